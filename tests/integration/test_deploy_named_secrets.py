"""A deploy refuses when the signing or keyset secret the app names does not exist.

The hosting guide has the API read its signing secret (AWS_SM_SIGNING_SECRET_ARN) and its
Ed25519 keyset (AUTH_KEY_SECRET_NAME) from Secrets Manager by the names in its plain
environment. Those are not `secrets[].valueFrom`, so ECS starts the task anyway; the app then
fails at its first signature. The `secret-refs` preflight checks them too (DescribeSecret only).
"""

from __future__ import annotations

import pytest

from support.deploy_support import revision_count, run_cli, write_config

READ_VALUE_CALLS = {"secretsmanager.GetSecretValue", "ssm.GetParameter", "ssm.GetParameters"}


@pytest.fixture
def config(tmp_path, environment):
    return write_config(tmp_path, environment)


def deploy(capsys, config, *args):
    return run_cli(capsys, "deploy", "--config", str(config), "-e", "sim", *args)


@pytest.mark.parametrize("variable", ["AWS_SM_SIGNING_SECRET_ARN", "AUTH_KEY_SECRET_NAME"])
def test_a_deleted_signing_or_keyset_secret_refuses_the_deploy(
    capsys, sandbox, environment, config, variable
):
    secret = environment.secrets[variable]
    sandbox.client("secretsmanager").delete_secret(SecretId=secret, ForceDeleteWithoutRecovery=True)
    ecs = sandbox.client("ecs")
    count = revision_count(environment, ecs)
    sandbox.reset_calls()

    ran = deploy(capsys, config, "--image", "api=" + environment.images["api"])

    assert ran.code == 2, ran.err
    [reason] = [line for line in ran.err.splitlines() if line.startswith("shipline: error:")]
    assert f"secret-refs: secret {secret} does not exist" in reason
    assert f"api: {variable}" in reason
    assert revision_count(environment, ecs) == count
    assert not READ_VALUE_CALLS & set(sandbox.calls())


def test_existing_secrets_pass_and_the_check_can_be_skipped_by_name(
    capsys, sandbox, environment, config
):
    secret = environment.secrets["AUTH_KEY_SECRET_NAME"]
    sandbox.client("secretsmanager").delete_secret(SecretId=secret, RecoveryWindowInDays=7)
    ran = deploy(capsys, config, "--image", "api=" + environment.images["api"])
    assert ran.code == 2 and "is scheduled for deletion" in ran.err
    skipped = deploy(
        capsys,
        config,
        "--image",
        "api=" + environment.images["api"],
        "--skip-preflight",
        "secret-refs",
    )
    assert skipped.code == 0, skipped.err
