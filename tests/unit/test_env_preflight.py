"""The deploy preflight's pure checks, on rendered task definitions."""

from __future__ import annotations

import pytest

from shipline.config import Service
from shipline.env.rules import (
    BILLING_TOPOLOGY,
    ENV_RULES,
    IMAGE_DIGESTS,
    PLAINTEXT_SECRETS,
    PREFLIGHT_CHECKS,
    SECRET_REFS,
    preflight_problems,
    secret_refs_of,
    validate_skip,
)
from shipline.env.secret_refs import parse_secret_ref
from shipline.errors import UsageError

ACCOUNT = "123456789012"
SM = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:"
API_ENV = {
    "ENVIRONMENT": "production",
    "APP_PUBLIC_URL": "https://app.example.com",
    "API_BASE_URL": "https://api.example.com",
    "AWS_REGION": "us-east-1",
    "AWS_SM_SIGNING_SECRET_ARN": SM + "signing-AbCdEf",
    "AUTH_KEY_STORAGE_BACKEND": "secret-manager",
    "AUTH_KEY_STORAGE_PROVIDER": "aws_sm",
    "AUTH_KEY_SECRET_NAME": SM + "keyset-AbCdEf",
    "STORAGE_PROVIDER": "s3",
    "S3_BUCKET": "app-storage",
    "ALLOWED_HOSTS": "api.example.com",
}
API_SECRETS = {"DATABASE_URL": SM + "db-AbCdEf", "REDIS_URL": SM + "redis-AbCdEf:url::"}
WORKER_ENV = {
    **API_ENV,
    "ENABLE_BILLING_RETRY_WORKER": "true",
    "BILLING_RETRY_DEPLOYMENT_MODE": "dedicated",
}


def task_definition(container: str, env: dict, secrets: dict | None = None, sidecar=False) -> dict:
    containers = [
        {
            "name": container,
            "image": "registry/app:v2",
            "environment": [{"name": k, "value": v} for k, v in env.items()],
            "secrets": [{"name": k, "valueFrom": v} for k, v in (secrets or {}).items()],
        }
    ]
    if sidecar:
        containers.append({"name": "log-router", "image": "fluent-bit", "environment": []})
    return {"family": f"app-{container}", "containerDefinitions": containers}


def healthy() -> dict[str, dict]:
    return {
        "api": task_definition(
            "api", {**API_ENV, "ENABLE_BILLING_RETRY_WORKER": "false"}, API_SECRETS, sidecar=True
        ),
        "web": task_definition("web", {"API_BASE_URL": "https://api.example.com"}),
        "worker": task_definition("api", WORKER_ENV, API_SECRETS),
    }


PROFILES = {"api": "api", "web": "web", "worker": "worker"}


def kinds(problems) -> set[tuple[str, str | None, str | None]]:
    return {(problem.check, problem.service, problem.variable) for problem in problems}


def test_a_correct_release_passes():
    assert preflight_problems(healthy(), PROFILES, 3) == []


def test_configured_services_can_be_passed_as_they_are():
    services = {
        "api": Service("api", "app-api", "api", "api", None, "api"),
        "web": Service("web", "app-web", "web", "web", None, "web"),
        "worker": Service("worker", "app-worker", "api", "api", None, "worker"),
        "cron": Service("cron", "app-cron", "cron", "api", None, None),
    }
    assert preflight_problems(healthy(), services, {"api": 3, "worker": 1}) == []


def test_plaintext_database_url_is_refused():
    tds = healthy()
    tds["api"] = task_definition(
        "api",
        {**API_ENV, "DATABASE_URL": "postgresql://app:pw@db/app"},
        {"REDIS_URL": API_SECRETS["REDIS_URL"]},
    )
    problems = preflight_problems(tds, PROFILES, 1)
    assert kinds(problems) == {(PLAINTEXT_SECRETS, "api", "DATABASE_URL")}
    assert "pw@" not in str(problems)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("REDIS_URL", "rediss://:tok@cache:6379"),
        ("STRIPE_SECRET_KEY", "sk_live_abcdefghijklmnop"),
        ("SMTP_PASSWORD", "hunter2"),
        ("ANALYTICS_URL", "https://user:pa55word@collector.example.com"),
    ],
)
def test_secret_looking_plain_variables_are_refused(name, value):
    tds = healthy()
    tds["web"] = task_definition("web", {"API_BASE_URL": "https://api.example.com", name: value})
    problems = preflight_problems(tds, PROFILES, 1)
    assert (PLAINTEXT_SECRETS, "web", name) in kinds(problems)


def test_references_to_secrets_are_not_secrets():
    tds = healthy()
    # ARNs and provider names in plain environment are fine (only their values are secret).
    assert all(problem.check != PLAINTEXT_SECRETS for problem in preflight_problems(tds, PROFILES))


def test_profile_rules_run_on_the_app_container_with_secret_names_counted():
    tds = healthy()
    tds["api"] = task_definition(
        "api",
        {**API_ENV, "ALLOWED_HOSTS": "other.example.com"},
        {"DATABASE_URL": API_SECRETS["DATABASE_URL"]},
    )
    problems = preflight_problems(tds, PROFILES, 1)
    assert kinds(problems) == {(ENV_RULES, "api", "ALLOWED_HOSTS"), (ENV_RULES, "api", "REDIS_URL")}


def test_services_without_a_profile_only_get_the_plaintext_check():
    tds = {"cron": task_definition("cron", {"FOO": "bar"})}
    assert preflight_problems(tds, {"cron": None}) == []


def test_production_rules_apply_from_the_environment_name():
    tds = healthy()
    tds["web"] = task_definition("web", {"API_BASE_URL": "http://api.example.com"})
    assert preflight_problems(tds, PROFILES, 1) == []
    problems = preflight_problems(tds, PROFILES, 1, environment_name="production")
    assert kinds(problems) == {(ENV_RULES, "web", "API_BASE_URL")}


def test_a_replicated_api_running_billing_retries_is_refused():
    tds = healthy()
    tds["api"] = task_definition(
        "api", {**API_ENV, "ENABLE_BILLING_RETRY_WORKER": "true"}, API_SECRETS
    )
    assert preflight_problems(tds, PROFILES, 1) == []
    problems = preflight_problems(tds, PROFILES, 2)
    assert kinds(problems) == {(BILLING_TOPOLOGY, "api", "ENABLE_BILLING_RETRY_WORKER")}
    assert "with 2 API replicas" in problems[0].message
    assert kinds(preflight_problems(tds, PROFILES, {"api": 4, "worker": 1})) == kinds(problems)


def test_a_replicated_api_needs_a_worker_service():
    tds = healthy()
    del tds["worker"]
    without_worker = {"api": "api", "web": "web"}
    assert preflight_problems(tds, without_worker, 1) == []
    problems = preflight_problems(tds, without_worker, 2)
    assert kinds(problems) == {(BILLING_TOPOLOGY, None, None)}
    # A worker that exists but is not moved in this release satisfies the topology.
    assert preflight_problems(tds, PROFILES, 2) == []


def test_a_worker_that_is_not_dedicated_is_refused():
    tds = healthy()
    tds["worker"] = task_definition(
        "api", {**API_ENV, "ENABLE_BILLING_RETRY_WORKER": "false"}, API_SECRETS
    )
    problems = preflight_problems(tds, PROFILES, 3)
    assert kinds(problems) == {
        (BILLING_TOPOLOGY, "worker", "ENABLE_BILLING_RETRY_WORKER"),
        (BILLING_TOPOLOGY, "worker", "BILLING_RETRY_DEPLOYMENT_MODE"),
    }


def test_skipping_a_check_leaves_out_only_its_problems():
    tds = healthy()
    tds["api"] = task_definition(
        "api",
        {
            **API_ENV,
            "DATABASE_URL": "postgresql://app:pw@db/app",
            "ALLOWED_HOSTS": "x.io",
            "ENABLE_BILLING_RETRY_WORKER": "true",
        },
        {"REDIS_URL": API_SECRETS["REDIS_URL"]},
    )
    every = {problem.check for problem in preflight_problems(tds, PROFILES, 2)}
    assert every == {PLAINTEXT_SECRETS, ENV_RULES, BILLING_TOPOLOGY}
    for skipped in every:
        left = {problem.check for problem in preflight_problems(tds, PROFILES, 2, {skipped})}
        assert left == every - {skipped}


def test_unknown_check_names_are_refused():
    assert validate_skip(["secret-refs"]) == {SECRET_REFS}
    with pytest.raises(UsageError, match="unknown preflight check nope; known: image-digests"):
        validate_skip(["nope"])
    with pytest.raises(UsageError):
        preflight_problems(healthy(), PROFILES, 1, {"env"})
    assert set(PREFLIGHT_CHECKS) == {
        IMAGE_DIGESTS,
        ENV_RULES,
        PLAINTEXT_SECRETS,
        SECRET_REFS,
        BILLING_TOPOLOGY,
    }


def test_secret_refs_are_collected_with_their_users():
    tds = healthy()
    tds["web"]["containerDefinitions"][0]["repositoryCredentials"] = {
        "credentialsParameter": SM + "ghcr-AbCdEf"
    }
    refs = secret_refs_of(tds)
    assert refs[SM + "db-AbCdEf"] == ["api: DATABASE_URL", "worker: DATABASE_URL"]
    assert refs[SM + "ghcr-AbCdEf"] == ["web: repositoryCredentials"]


@pytest.mark.parametrize(
    ("text", "service", "region", "secret_id", "extra"),
    [
        (SM + "db-AbCdEf", "secretsmanager", "us-east-1", SM + "db-AbCdEf", (None, None, None)),
        (SM + "db", "secretsmanager", "us-east-1", SM + "db", (None, None, None)),
        (
            SM + "db-AbCdEf:password::",
            "secretsmanager",
            "us-east-1",
            SM + "db-AbCdEf",
            ("password", None, None),
        ),
        (
            SM + "db-AbCdEf:url:AWSPREVIOUS:",
            "secretsmanager",
            "us-east-1",
            SM + "db-AbCdEf",
            ("url", "AWSPREVIOUS", None),
        ),
        (
            f"arn:aws:ssm:eu-west-1:{ACCOUNT}:parameter/app/db",
            "ssm",
            "eu-west-1",
            "/app/db",
            (None, None, None),
        ),
        (
            f"arn:aws:ssm:eu-west-1:{ACCOUNT}:parameter/db",
            "ssm",
            "eu-west-1",
            "db",
            (None, None, None),
        ),
        ("/app/db", "ssm", None, "/app/db", (None, None, None)),
    ],
)
def test_secret_reference_forms(text, service, region, secret_id, extra):
    ref = parse_secret_ref(text)
    assert (ref.service, ref.region, ref.secret_id) == (service, region, secret_id)
    assert (ref.json_key, ref.version_stage, ref.version_id) == extra


@pytest.mark.parametrize(
    "text",
    [
        "",
        "arn:aws:s3:::bucket/key",
        "arn:aws:secretsmanager:us-east-1:1:db",
        f"arn:aws:ssm:us-east-1:{ACCOUNT}:document/x",
        SM + "a:b:c:d:e",
    ],
)
def test_references_ecs_would_not_accept(text):
    with pytest.raises(ValueError):
        parse_secret_ref(text)
