"""Every rule of the hosting guide, each with an environment that passes and one that fails."""

from __future__ import annotations

import pytest

from shipline.env.rules import (
    BILLING_TOPOLOGY,
    ENV_RULES,
    ERROR,
    WARNING,
    check_environment,
    count_errors,
    host_allowed,
    parse_list,
)
from shipline.errors import UsageError

SIGNING_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:signing-AbCdEf"
KEYSET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:keyset-XyZ123"
GOV_SIGNING_ARN = "arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:s-1"

API = {
    "ENVIRONMENT": "staging",
    "DATABASE_URL": "postgresql://app:pw-123456@db.internal:5432/app",
    "REDIS_URL": "rediss://:token-123@cache.internal:6379/0",
    "APP_PUBLIC_URL": "https://app.example.com",
    "API_BASE_URL": "https://api.example.com",
    "AWS_REGION": "us-east-1",
    "AWS_SM_SIGNING_SECRET_ARN": SIGNING_ARN,
    "AUTH_KEY_STORAGE_BACKEND": "secret-manager",
    "AUTH_KEY_STORAGE_PROVIDER": "aws_sm",
    "AUTH_KEY_SECRET_NAME": KEYSET_ARN,
    "STORAGE_PROVIDER": "s3",
    "S3_BUCKET": "app-storage",
    "ALLOWED_HOSTS": "api.example.com",
}
WEB = {"API_BASE_URL": "https://api.example.com"}
WORKER = {
    **API,
    "ENABLE_BILLING_RETRY_WORKER": "true",
    "BILLING_RETRY_DEPLOYMENT_MODE": "dedicated",
}
BASE = {"api": API, "web": WEB, "worker": WORKER}
DROP = object()


def changed(profile: str, **changes: object) -> dict[str, str]:
    values = dict(BASE[profile])
    for name, value in changes.items():
        if value is DROP:
            values.pop(name, None)
        else:
            values[name] = str(value)
    return values


def found(problems) -> set[tuple[str | None, str]]:
    return {(problem.variable, problem.severity) for problem in problems}


@pytest.mark.parametrize("profile", ["api", "web", "worker"])
def test_the_guides_minimal_environment_of_each_profile_is_clean(profile):
    assert check_environment(BASE[profile], profile) == []


# (id, profile, passing changes, failing changes, the problem the failing one must raise)
RULES = [
    ("ENVIRONMENT required", "api", {}, {"ENVIRONMENT": DROP}, ("ENVIRONMENT", ERROR)),
    ("DATABASE_URL required", "api", {}, {"DATABASE_URL": DROP}, ("DATABASE_URL", ERROR)),
    ("DATABASE_URL empty", "api", {}, {"DATABASE_URL": "  "}, ("DATABASE_URL", ERROR)),
    (
        "DATABASE_URL is postgres",
        "api",
        {"DATABASE_URL": "postgresql+asyncpg://u:p@db:5432/app"},
        {"DATABASE_URL": "mysql://u:p@db/app"},
        ("DATABASE_URL", ERROR),
    ),
    ("REDIS_URL required", "api", {}, {"REDIS_URL": DROP}, ("REDIS_URL", ERROR)),
    (
        "REDIS_URL is redis",
        "api",
        {"REDIS_URL": "rediss://default:token@cache:6379/0"},
        {"REDIS_URL": "cache.internal:6379"},
        ("REDIS_URL", ERROR),
    ),
    ("APP_PUBLIC_URL required", "api", {}, {"APP_PUBLIC_URL": DROP}, ("APP_PUBLIC_URL", ERROR)),
    (
        "APP_PUBLIC_URL is a URL",
        "api",
        {"APP_PUBLIC_URL": "http://localhost:3000"},
        {"APP_PUBLIC_URL": "app.example.com"},
        ("APP_PUBLIC_URL", ERROR),
    ),
    (
        "SECRETS_PROVIDER known",
        "api",
        {"SECRETS_PROVIDER": "aws_sm"},
        {"SECRETS_PROVIDER": "keepass"},
        ("SECRETS_PROVIDER", WARNING),
    ),
    (
        "aws_sm (default) requires AWS_REGION",
        "api",
        {"SECRETS_PROVIDER": "vault_hcp", "AWS_REGION": DROP, "AWS_SM_SIGNING_SECRET_ARN": DROP},
        {"AWS_REGION": DROP},
        ("AWS_REGION", ERROR),
    ),
    (
        "AWS_REGION format",
        "api",
        {"AWS_REGION": "eu-west-3"},
        {"AWS_REGION": "Virginia"},
        ("AWS_REGION", ERROR),
    ),
    (
        "aws_sm requires AWS_SM_SIGNING_SECRET_ARN",
        "api",
        {"SECRETS_PROVIDER": "infisical_cloud", "AWS_SM_SIGNING_SECRET_ARN": DROP},
        {"SECRETS_PROVIDER": "aws_sm", "AWS_SM_SIGNING_SECRET_ARN": DROP},
        ("AWS_SM_SIGNING_SECRET_ARN", ERROR),
    ),
    (
        "AWS_SM_SIGNING_SECRET_ARN is a Secrets Manager ARN",
        "api",
        {"AWS_SM_SIGNING_SECRET_ARN": GOV_SIGNING_ARN},
        {"AWS_SM_SIGNING_SECRET_ARN": "arn:aws:ssm:us-east-1:123456789012:parameter/signing"},
        ("AWS_SM_SIGNING_SECRET_ARN", ERROR),
    ),
    (
        "secret-manager backend requires AUTH_KEY_STORAGE_PROVIDER explicitly",
        "api",
        {},
        {"AUTH_KEY_STORAGE_PROVIDER": DROP},
        ("AUTH_KEY_STORAGE_PROVIDER", ERROR),
    ),
    (
        "secret-manager backend requires AUTH_KEY_SECRET_NAME",
        "api",
        {},
        {"AUTH_KEY_SECRET_NAME": DROP},
        ("AUTH_KEY_SECRET_NAME", ERROR),
    ),
    (
        "AUTH_KEY_SECRET_NAME an ARN for aws_sm (warning)",
        "api",
        {"AUTH_KEY_STORAGE_PROVIDER": "vault_hcp", "AUTH_KEY_SECRET_NAME": "kv/keyset"},
        {"AUTH_KEY_SECRET_NAME": "keyset"},
        ("AUTH_KEY_SECRET_NAME", WARNING),
    ),
    (
        "STORAGE_PROVIDER=s3 requires S3_BUCKET",
        "api",
        {},
        {"S3_BUCKET": DROP},
        ("S3_BUCKET", ERROR),
    ),
    # The guide's minimal API environment names the key storage and the object storage; without
    # them the app keeps its keyset and files on a task's disk, lost with the task.
    (
        "AUTH_KEY_STORAGE_BACKEND required",
        "api",
        {},
        {"AUTH_KEY_STORAGE_BACKEND": DROP},
        ("AUTH_KEY_STORAGE_BACKEND", ERROR),
    ),
    (
        "AUTH_KEY_STORAGE_BACKEND is secret-manager",
        "worker",
        {},
        {"AUTH_KEY_STORAGE_BACKEND": "file"},
        ("AUTH_KEY_STORAGE_BACKEND", ERROR),
    ),
    (
        "STORAGE_PROVIDER required (hence S3_BUCKET)",
        "api",
        {},
        {"STORAGE_PROVIDER": DROP, "S3_BUCKET": DROP},
        ("STORAGE_PROVIDER", ERROR),
    ),
    (
        "STORAGE_PROVIDER other than s3 (warning)",
        "api",
        {"STORAGE_PROVIDER": "s3"},
        {"STORAGE_PROVIDER": "gcs", "S3_BUCKET": DROP},
        ("STORAGE_PROVIDER", WARNING),
    ),
    # The blueprint's Redis always has TLS in transit: rediss:// in every environment.
    (
        "REDIS_URL is rediss outside production too",
        "api",
        {"REDIS_URL": "rediss://:tok@cache:6379"},
        {"REDIS_URL": "redis://:tok@cache:6379"},
        ("REDIS_URL", ERROR),
    ),
    (
        "S3_BUCKET is a name",
        "api",
        {"S3_BUCKET": "my.bucket-1"},
        {"S3_BUCKET": "s3://app-storage"},
        ("S3_BUCKET", ERROR),
    ),
    ("ALLOWED_HOSTS required", "api", {}, {"ALLOWED_HOSTS": DROP}, ("ALLOWED_HOSTS", ERROR)),
    (
        "ALLOWED_HOSTS lists hosts, not URLs",
        "api",
        {"ALLOWED_HOSTS": '["api.example.com", "internal-alb-1.us-east-1.elb.amazonaws.com"]'},
        {"ALLOWED_HOSTS": "https://api.example.com"},
        ("ALLOWED_HOSTS", ERROR),
    ),
    (
        "ALLOWED_HOSTS covers the API URL's host",
        "api",
        {"ALLOWED_HOSTS": ".example.com"},
        {"ALLOWED_HOSTS": "app.example.com,localhost"},
        ("ALLOWED_HOSTS", ERROR),
    ),
    (
        "ALLOWED_ORIGINS includes the web origin",
        "api",
        {"ALLOWED_ORIGINS": "https://admin.example.com, https://app.example.com"},
        {"ALLOWED_ORIGINS": "https://admin.example.com"},
        ("ALLOWED_ORIGINS", WARNING),
    ),
    (
        "ALLOWED_ORIGINS are origins",
        "api",
        {"ALLOWED_ORIGINS": "https://app.example.com,http://localhost:3000"},
        {"ALLOWED_ORIGINS": "https://app.example.com/"},
        ("ALLOWED_ORIGINS", ERROR),
    ),
    ("web requires API_BASE_URL", "web", {}, {"API_BASE_URL": DROP}, ("API_BASE_URL", ERROR)),
    (
        "web API_BASE_URL is a URL",
        "web",
        {"API_BASE_URL": "http://localhost:8000"},
        {"API_BASE_URL": "/api"},
        ("API_BASE_URL", ERROR),
    ),
    (
        "ENABLE_BILLING_RETRY_WORKER is a boolean",
        "api",
        {"ENABLE_BILLING_RETRY_WORKER": "False"},
        {"ENABLE_BILLING_RETRY_WORKER": "sometimes"},
        ("ENABLE_BILLING_RETRY_WORKER", ERROR),
    ),
]


@pytest.mark.parametrize(
    ("profile", "passing", "failing", "expected"),
    [case[1:] for case in RULES],
    ids=[case[0] for case in RULES],
)
def test_rule(profile, passing, failing, expected):
    assert check_environment(changed(profile, **passing), profile) == []
    problems = check_environment(changed(profile, **failing), profile)
    assert expected in found(problems), problems
    assert all(problem.fix for problem in problems)


def test_every_problem_is_reported_at_once():
    values = changed(
        "api", DATABASE_URL=DROP, REDIS_URL=DROP, ALLOWED_HOSTS=DROP, S3_BUCKET="S3://x"
    )
    variables = {problem.variable for problem in check_environment(values, "api")}
    assert {"DATABASE_URL", "REDIS_URL", "ALLOWED_HOSTS", "S3_BUCKET"} <= variables


def test_a_missing_variable_names_the_condition_and_its_default():
    (problem,) = check_environment(changed("api", AWS_REGION=DROP), "api")
    assert "SECRETS_PROVIDER=aws_sm (its default)" in problem.message
    assert "`region`" in problem.fix  # the Terraform input that sets it


def test_strict_turns_warnings_into_errors():
    values = changed("api", AUTH_KEY_SECRET_NAME="keyset")
    assert count_errors(check_environment(values, "api")) == 0
    strict = check_environment(values, "api", strict=True)
    assert found(strict) == {("AUTH_KEY_SECRET_NAME", ERROR)}


@pytest.mark.parametrize("how", ["label", "environment-name"])
def test_production_requires_https_urls(how):
    values = changed(
        "api",
        APP_PUBLIC_URL="http://app.example.com",
        API_BASE_URL="http://api.example.com",
    )
    assert check_environment(values, "api") == []  # fine outside production
    if how == "label":
        values["ENVIRONMENT"] = "production"
        problems = check_environment(values, "api")
    else:
        values["ENVIRONMENT"] = "Production"
        problems = check_environment(values, "api", environment_name="production")
    assert found(problems) == {
        ("APP_PUBLIC_URL", ERROR),
        ("API_BASE_URL", ERROR),
    }


def test_production_passes_with_https_and_rediss():
    values = changed("api", ENVIRONMENT="production", REDIS_URL="rediss://:tok@cache:6379/0")
    assert check_environment(values, "api") == []


def test_production_web_requires_https_api_url():
    values = {"API_BASE_URL": "http://api.example.com"}
    assert check_environment(values, "web") == []
    problems = check_environment(values, "web", environment_name="production")
    assert found(problems) == {("API_BASE_URL", ERROR)}


def test_checking_production_with_another_label_warns():
    values = changed("api", REDIS_URL="rediss://:tok@cache:6379/0")
    problems = check_environment(values, "api", environment_name="production")
    assert found(problems) == {("ENVIRONMENT", WARNING)}


def test_worker_must_be_the_dedicated_billing_worker():
    assert check_environment(WORKER, "worker") == []
    problems = check_environment(
        changed("worker", ENABLE_BILLING_RETRY_WORKER="false", BILLING_RETRY_DEPLOYMENT_MODE=DROP),
        "worker",
    )
    assert found(problems) == {
        ("ENABLE_BILLING_RETRY_WORKER", ERROR),
        ("BILLING_RETRY_DEPLOYMENT_MODE", ERROR),
    }
    assert {problem.check for problem in problems} == {BILLING_TOPOLOGY}


def test_worker_also_gets_the_api_rules():
    problems = check_environment(changed("worker", DATABASE_URL=DROP), "worker")
    assert found(problems) == {("DATABASE_URL", ERROR)}


@pytest.mark.parametrize("replicas", [None, 0, 1])
def test_a_single_api_replica_may_run_billing_retries(replicas):
    values = changed("api", ENABLE_BILLING_RETRY_WORKER="true")
    assert check_environment(values, "api", api_replicas=replicas) == []


def test_a_replicated_api_must_not_run_billing_retries():
    for value in ("true", DROP):
        problems = check_environment(
            changed("api", ENABLE_BILLING_RETRY_WORKER=value), "api", api_replicas=3
        )
        assert found(problems) == {("ENABLE_BILLING_RETRY_WORKER", ERROR)}
        assert problems[0].check == BILLING_TOPOLOGY
    values = changed("api", ENABLE_BILLING_RETRY_WORKER="false")
    assert check_environment(values, "api", api_replicas=3) == []


def test_names_injected_from_secrets_count_as_set_but_are_not_format_checked():
    values = changed("api", DATABASE_URL=DROP, REDIS_URL=DROP)
    assert check_environment(values, "api", from_secrets=["DATABASE_URL", "REDIS_URL"]) == []
    problems = check_environment(values, "api", from_secrets=["DATABASE_URL"])
    assert found(problems) == {("REDIS_URL", ERROR)}


def test_messages_never_quote_a_secret_value():
    values = changed("api", DATABASE_URL="mysql://app:hunter2-secret@db/app")
    problems = check_environment(values, "api")
    assert problems and all("hunter2-secret" not in str(problem) for problem in problems)


def test_unknown_profile_is_a_usage_error():
    with pytest.raises(UsageError, match="unknown profile"):
        check_environment(API, "cron")


def test_problem_checks_are_named():
    problems = check_environment(changed("api", DATABASE_URL=DROP), "api")
    assert {problem.check for problem in problems} == {ENV_RULES}


@pytest.mark.parametrize(
    ("host", "allowed", "covered"),
    [
        ("api.example.com", ["api.example.com"], True),
        ("API.example.com", ["api.example.com:443"], True),
        ("api.example.com", ["*"], True),
        ("api.example.com", ["*.example.com"], True),
        ("example.com", [".example.com"], True),
        ("api.example.com", ["example.com"], False),
        ("api.example.com.evil.io", [".example.com"], False),
    ],
)
def test_host_coverage(host, allowed, covered):
    assert host_allowed(host, allowed) is covered


@pytest.mark.parametrize(
    "hosts", ["*", "api.example.com:8000", "10.0.1.23", "[::1]", ".example.com", "*.example.com"]
)
def test_host_list_forms(hosts):
    assert check_environment(changed("api", ALLOWED_HOSTS=hosts, API_BASE_URL=DROP), "api") == []


@pytest.mark.parametrize("hosts", ["api example com", "api_example.com", "-api.example.com", ","])
def test_host_list_mistakes(hosts):
    problems = check_environment(changed("api", ALLOWED_HOSTS=hosts, API_BASE_URL=DROP), "api")
    assert found(problems) == {("ALLOWED_HOSTS", ERROR)}


def test_lists_are_comma_separated_or_json():
    assert parse_list(" a.com, b.com ,,") == ["a.com", "b.com"]
    assert parse_list('["a.com", "b.com"]') == ["a.com", "b.com"]


# REDIS_URL carries the AUTH token when Terraform made Redis require one
# (redis_require_auth_token=true: the output redis_auth_token_secret_arn is set).
TOKEN_SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:acme-redis-auth-AbCdEf"
NO_TOKEN = {"REDIS_URL": "rediss://cache.internal:6379/0"}


@pytest.mark.parametrize("profile", ["api", "worker"])
def test_redis_url_without_the_token_is_refused_when_terraform_requires_it(profile):
    outputs = {"redis_auth_token_secret_arn": TOKEN_SECRET}
    assert check_environment(BASE[profile], profile, terraform_outputs=outputs) == []
    problems = check_environment(changed(profile, **NO_TOKEN), profile, terraform_outputs=outputs)
    assert found(problems) == {("REDIS_URL", ERROR)}
    assert "redis_auth_token_secret_arn" in problems[0].fix


def test_redis_url_without_a_token_passes_when_terraform_requires_none():
    values = changed("api", **NO_TOKEN)
    assert check_environment(values, "api", terraform_outputs={}) == []
    outputs = {"redis_auth_token_secret_arn": None}  # redis_require_auth_token=false
    assert check_environment(values, "api", terraform_outputs=outputs) == []


def test_redis_url_without_a_token_warns_when_terraform_is_not_known():
    # The blueprint's default requires the token; without the outputs it may be off on purpose.
    problems = check_environment(changed("api", **NO_TOKEN), "api")
    assert found(problems) == {("REDIS_URL", WARNING)}
    strict = check_environment(changed("api", **NO_TOKEN), "api", strict=True)
    assert found(strict) == {("REDIS_URL", ERROR)}


def test_the_allowed_hosts_rule_names_the_url_it_misses():
    values = changed("worker", ALLOWED_HOSTS="internal-alb.elb.amazonaws.com")
    (problem,) = check_environment(values, "worker")
    assert problem.variable == "ALLOWED_HOSTS" and problem.is_error
    assert "api.example.com, the host of API_BASE_URL" in problem.message
