"""`check_secret_refs` and the preflight functions against the `shipline sim` sandbox."""

from __future__ import annotations

from shipline.config import Service
from shipline.env.rules import named_secrets_of, preflight_problems, secret_refs_of
from shipline.env.secret_refs import check_named_secrets, check_secret_refs

READ_VALUE_CALLS = {"secretsmanager.GetSecretValue", "ssm.GetParameter", "ssm.GetParameters"}


def make_secret(sandbox, name: str) -> str:
    return sandbox.client("secretsmanager").create_secret(Name=name, SecretString="s3cr3t")["ARN"]


def messages(problems) -> list[str]:
    return [problem.message for problem in problems]


def test_existing_secrets_in_every_form_pass(sandbox):
    arn = make_secret(sandbox, "app/database-url")
    partial = arn.rsplit("-", 1)[0]  # without the 6-character suffix
    assert partial.endswith(":secret:app/database-url")
    refs = [arn, partial, f"{arn}:url::", f"{arn}::AWSCURRENT:", f"{partial}:password::"]
    sandbox.reset_calls()
    assert check_secret_refs(refs, sandbox.region) == []
    calls = sandbox.calls()
    assert calls.get("secretsmanager.DescribeSecret") == len(refs)
    assert not READ_VALUE_CALLS & set(calls), calls


def test_a_secret_that_does_not_exist_is_a_problem(sandbox):
    arn = make_secret(sandbox, "app/redis-url")
    missing = arn.replace("app/redis-url", "app/redis-uri")
    problems = check_secret_refs({missing: ["api: REDIS_URL"], arn: ["api: X"]}, sandbox.region)
    assert messages(problems) == [f"secret {missing} does not exist (used by api: REDIS_URL)"]
    assert problems[0].check == "secret-refs" and problems[0].is_error


def test_a_missing_version_stage_and_a_deleted_secret_are_problems(sandbox):
    arn = make_secret(sandbox, "app/keyset")
    gone = make_secret(sandbox, "app/old")
    sandbox.client("secretsmanager").delete_secret(SecretId=gone, RecoveryWindowInDays=7)
    problems = check_secret_refs([f"{arn}::AWSPENDING:", f"{gone}:key::"], sandbox.region)
    assert messages(problems) == [
        f"secret {arn}::AWSPENDING: has no version labelled AWSPENDING",
        f"secret {gone}:key:: is scheduled for deletion",
    ]


def test_ssm_parameters_by_name_and_arn(sandbox):
    ssm = sandbox.client("ssm")
    ssm.put_parameter(Name="/app/database-url", Value="postgresql://x", Type="SecureString")
    ssm.put_parameter(Name="flat", Value="v", Type="String")
    arn_prefix = f"arn:aws:ssm:{sandbox.region}:123456789012:parameter"
    sandbox.reset_calls()
    ok = ["/app/database-url", f"{arn_prefix}/app/database-url", "flat", f"{arn_prefix}/flat"]
    assert check_secret_refs(ok, sandbox.region) == []
    problems = check_secret_refs(["/app/missing", f"{arn_prefix}/app/nope"], sandbox.region)
    assert messages(problems) == [
        "SSM parameter /app/missing does not exist",
        f"SSM parameter {arn_prefix}/app/nope does not exist",
    ]
    assert not READ_VALUE_CALLS & set(sandbox.calls())


def test_references_ecs_would_refuse_are_problems_without_a_call(sandbox):
    sandbox.reset_calls()
    problems = check_secret_refs(["arn:aws:s3:::bucket/key"], sandbox.region)
    assert len(problems) == 1 and "Secrets Manager or SSM only" in problems[0].message
    assert sandbox.calls() == {}


def test_the_seeded_environment_passes_the_whole_preflight(environment, sandbox):
    ecs = sandbox.client("ecs")
    task_definitions = {
        key: ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
        for key, arn in environment.task_definitions.items()
    }
    services = {
        key: Service(key, environment.services[key], environment.containers[key], key, None, key)
        for key in environment.services
    }
    counts = dict.fromkeys(services, environment.desired_count)
    assert preflight_problems(task_definitions, services, counts) == []
    refs = secret_refs_of(task_definitions)
    assert set(refs) == {environment.secrets["DATABASE_URL"], environment.secrets["REDIS_URL"]}
    assert check_secret_refs(refs, environment.region) == []
    named = named_secrets_of(task_definitions, services)
    assert named == {
        environment.secrets["AWS_SM_SIGNING_SECRET_ARN"]: [
            "api: AWS_SM_SIGNING_SECRET_ARN",
            "worker: AWS_SM_SIGNING_SECRET_ARN",
        ],
        environment.secrets["AUTH_KEY_SECRET_NAME"]: [
            "api: AUTH_KEY_SECRET_NAME",
            "worker: AUTH_KEY_SECRET_NAME",
        ],
    }
    assert check_named_secrets(named, environment.region) == []


# The hosting guide's signing secret (AWS_SM_SIGNING_SECRET_ARN) and keyset secret
# (AUTH_KEY_SECRET_NAME) are named in plain variables, not `secrets[].valueFrom`: they too must
# exist before a deploy, checked by metadata only.


def test_a_keyset_secret_named_by_its_name_is_looked_up_in_secrets_manager(sandbox):
    make_secret(sandbox, "app/keyset")
    sandbox.reset_calls()
    named = {"app/keyset": ["api: AUTH_KEY_SECRET_NAME"], "app/nokeys": ["api: X"]}
    problems = check_named_secrets(named, sandbox.region)
    assert messages(problems) == ["secret app/nokeys does not exist (used by api: X)"]
    calls = sandbox.calls()
    assert calls.get("secretsmanager.DescribeSecret") == 2 and "ssm.DescribeParameters" not in calls
    assert not READ_VALUE_CALLS & set(calls), calls


def test_named_secrets_only_while_their_provider_is_aws_sm():
    signing = "arn:aws:secretsmanager:us-east-1:123456789012:secret:signing-AbCdEf"
    env = {
        "SECRETS_PROVIDER": "vault_hcp",
        "AWS_SM_SIGNING_SECRET_ARN": signing,
        "AUTH_KEY_STORAGE_BACKEND": "secret-manager",
        "AUTH_KEY_STORAGE_PROVIDER": "vault_hcp",
        "AUTH_KEY_SECRET_NAME": "kv/keyset",
    }
    container = {"name": "api", "environment": [{"name": k, "value": v} for k, v in env.items()]}
    task_definitions = {"api": {"containerDefinitions": [container]}}
    assert named_secrets_of(task_definitions, {"api": "api"}) == {}
    env["SECRETS_PROVIDER"] = "aws_sm"
    container["environment"] = [{"name": k, "value": v} for k, v in env.items()]
    assert named_secrets_of(task_definitions, {"api": "api"}) == {
        signing: ["api: AWS_SM_SIGNING_SECRET_ARN"]
    }
    assert named_secrets_of(task_definitions, {"api": None}) == {}  # no profile, no rules


def test_a_named_secret_must_be_a_secrets_manager_secret(sandbox):
    # The app reads these with Secrets Manager's API: an SSM parameter cannot be one.
    ssm_arn = "arn:aws:ssm:us-east-1:123456789012:parameter/app/signing"
    sandbox.reset_calls()
    problems = check_named_secrets({ssm_arn: ["api: AWS_SM_SIGNING_SECRET_ARN"]}, sandbox.region)
    assert messages(problems) == [
        f"secret reference {ssm_arn} (used by api: AWS_SM_SIGNING_SECRET_ARN) "
        "is not a Secrets Manager secret"
    ]
    assert sandbox.calls() == {}
