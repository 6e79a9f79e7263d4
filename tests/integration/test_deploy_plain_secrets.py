"""Plain secrets in a task definition, tried as an attacker: refused, masked, never recorded.

The hosting guide puts credentials in `secrets` (Secrets Manager), never in a task definition's
plain `environment`. A deploy refuses secret-looking plain values (`plaintext-secrets`); a
deploy that skips that check on purpose masks them in the job log (a URL's password on its
own) and stores the release record without them.
"""

from __future__ import annotations

import json

import pytest

from support.deploy_support import (
    lock_exists,
    records,
    register_variant,
    revision_count,
    run_cli,
    running_task_definitions,
    write_config,
)

DB_PASS = "db-pass-4f1c9e77"
MYSQL_PWD = "mysql-pwd-8a2d7731"
URL_PASSWORD = "url-pass-5b3e0c21"
REPORTING_URL = f"postgres://report:{URL_PASSWORD}@db.internal:5432/app"
PLAIN = {"DB_PASS": DB_PASS, "MYSQL_PWD": MYSQL_PWD, "REPORTING_URL": REPORTING_URL}


@pytest.fixture
def config(tmp_path, environment):
    return write_config(tmp_path, environment)


def deploy(capsys, config, *args):
    return run_cli(capsys, "deploy", "--config", str(config), "-e", "sim", *args)


def with_plain(values):
    def change(container):
        container["environment"].extend({"name": k, "value": v} for k, v in values.items())

    return change


def in_actions(monkeypatch, tmp_path):
    outputs, summary = tmp_path / "outputs", tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_OUTPUT", str(outputs))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    return outputs, summary


@pytest.mark.parametrize("name", ["DB_PASS", "MYSQL_PWD"])
def test_a_plain_password_variable_is_refused_by_the_preflight(
    capsys, sandbox, environment, config, ecs, s3, name
):
    variant = register_variant(
        ecs, environment.task_definitions["api"], with_plain({name: PLAIN[name]})
    )
    count = revision_count(environment, ecs)

    ran = deploy(capsys, config, "--task-definition", f"api={variant}")

    assert ran.code == 2, ran.err
    [reason] = [line for line in ran.err.splitlines() if line.startswith("shipline: error:")]
    assert "plaintext-secrets" in reason and name in reason
    assert PLAIN[name] not in ran.err
    assert revision_count(environment, ecs) == count
    assert records(environment, s3) == [] and not lock_exists(environment, s3)
    assert running_task_definitions(environment, ecs)["api"] == environment.task_definitions["api"]


def deploy_on_purpose(capsys, environment, config, ecs):
    """A deploy of plain secrets with `--skip-preflight plaintext-secrets`: (result, ARN)."""
    variant = register_variant(ecs, environment.task_definitions["api"], with_plain(PLAIN))
    ran = deploy(
        capsys,
        config,
        "--task-definition",
        f"api={variant}",
        "--skip-preflight",
        "plaintext-secrets",
    )
    assert ran.code == 0, ran.err
    assert running_task_definitions(environment, ecs)["api"] == variant
    return ran, variant


def test_plain_secrets_deployed_on_purpose_are_masked_url_passwords_on_their_own(
    capsys, sandbox, environment, config, ecs, tmp_path, monkeypatch
):
    outputs, summary = in_actions(monkeypatch, tmp_path)

    ran, _ = deploy_on_purpose(capsys, environment, config, ecs)

    # Masked before anything else is printed: the URL's password on its own, so the runner
    # hides it wherever it shows up, not only inside this one URL.
    masks = [line for line in ran.err.splitlines() if line.startswith("::add-mask::")]
    assert f"::add-mask::{URL_PASSWORD}" in masks
    assert f"::add-mask::{DB_PASS}" in masks and f"::add-mask::{MYSQL_PWD}" in masks
    # The app's known non-secrets (the inventory says so) are not masked: masking `aws_sm`
    # would hide every mention of the provider in the log.
    assert "::add-mask::aws_sm" not in masks
    assert "::add-mask::secret-manager" not in masks
    # Anywhere but in a mask command, none of the values is shown.
    shown = "\n".join(line for line in ran.err.splitlines() if line not in masks)
    for value in (DB_PASS, MYSQL_PWD, URL_PASSWORD):
        assert value not in shown
        assert value not in outputs.read_text() + summary.read_text()


def test_plain_secrets_deployed_on_purpose_are_never_stored_in_the_record(
    capsys, sandbox, environment, config, ecs, s3
):
    _, variant = deploy_on_purpose(capsys, environment, config, ecs)

    # The record in S3 holds none of the values, and says which ones it left out.
    [record] = records(environment, s3)
    stored = json.dumps(record)
    for value in (DB_PASS, MYSQL_PWD, URL_PASSWORD):
        assert value not in stored
    entry = record["services"]["api"]
    assert entry["task_definition_content"]["family"] == environment.families["api"]
    assert sorted(entry["redacted"]) == ["api: DB_PASS", "api: MYSQL_PWD", "api: REPORTING_URL"]
    # Everything else is kept as it was, the known non-secrets and the secret references too.
    [api] = entry["task_definition_content"]["containerDefinitions"]
    plain = {item["name"]: item["value"] for item in api["environment"]}
    assert plain["SECRETS_PROVIDER"] == "aws_sm"
    assert plain["AUTH_KEY_STORAGE_BACKEND"] == "secret-manager"
    assert plain["REPORTING_URL"] == "postgres://report:***@db.internal:5432/app"
    assert plain["DB_PASS"] == "***"
    live = ecs.describe_task_definition(taskDefinition=variant)["taskDefinition"]
    assert api["secrets"] == live["containerDefinitions"][0]["secrets"]


def test_a_rollback_that_needs_a_redacted_copy_is_refused_before_any_change(
    capsys, sandbox, environment, config, ecs, s3
):
    variant = register_variant(ecs, environment.task_definitions["api"], with_plain(PLAIN))
    skip = ["--skip-preflight", "plaintext-secrets"]
    first = deploy(capsys, config, "--task-definition", f"api={variant}", *skip)
    assert first.code == 0, first.err
    # The next release renders the live (plain-secret) task definition: the same skip.
    images = [f"--image=api={environment.image('api', 'v3')}"]
    second = deploy(capsys, config, *images, f"--image=web={environment.image('web', 'v3')}", *skip)
    assert second.code == 0, second.err
    # The redacted release's task definition is gone: only the record's copy is left.
    ecs.deregister_task_definition(taskDefinition=variant)
    ecs.delete_task_definitions(taskDefinitions=[variant])
    before = running_task_definitions(environment, ecs)
    count = revision_count(environment, ecs)

    ran = run_cli(capsys, "rollback", "--config", str(config), "-e", "sim")

    assert ran.code == 2, ran.err
    [reason] = [line for line in ran.err.splitlines() if line.startswith("shipline: error:")]
    assert variant in reason and "DB_PASS" in reason and "redacted" in reason
    assert running_task_definitions(environment, ecs) == before
    assert revision_count(environment, ecs) == count
    assert len(records(environment, s3)) == 2 and not lock_exists(environment, s3)
