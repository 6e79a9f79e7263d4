"""A release session spanning steps, against the sandbox: `shipline lock acquire` takes the lock
before Terraform changes anything, `shipline terraform apply --release-id` records what it
changed, `shipline deploy --release-id` adopts lock and record, and `shipline lock release
--release-id --finish-record` cleans up a run that stopped before its deploy step.

Terraform is a stand-in (arguments and exit codes only); while its `apply` runs it starts
another `shipline deploy` and reads the lock, so the test sees the environment from inside the
apply as a second run would.
"""

from __future__ import annotations

import json
import sys

import pytest
import yaml

from support.deploy_support import (
    lock_exists,
    records,
    register_variant,
    run_cli,
    running_task_definitions,
    write_config,
)

# During `apply`: another deploy of the same environment and `lock status`, their results kept.
STAND_IN = """#!{python}
import json, os, subprocess, sys
args = sys.argv[1:]
command = next(a for a in args if not a.startswith("-"))
if command == "plan":
    out = next(a for a in args if a.startswith("-out="))[len("-out="):]
    open(out, "w").write("binary plan")
elif command == "show":
    sys.stdout.write(os.environ["STANDIN_PLAN_JSON"])
elif command == "apply":
    shipline = [sys.executable, "-m", "shipline"]
    other = subprocess.run(
        shipline + ["deploy", "-e", "sim", "--image", os.environ["STANDIN_OTHER_IMAGE"]],
        capture_output=True, text=True,
    )
    status = subprocess.run(
        shipline + ["lock", "status", "-e", "sim", "--json"], capture_output=True, text=True
    )
    with open(os.environ["STANDIN_DURING_APPLY"], "w") as seen:
        json.dump({{"other_exit": other.returncode, "other_err": other.stderr,
                   "lock": json.loads(status.stdout)}}, seen)
    sys.exit(int(os.environ.get("STANDIN_APPLY_EXIT", "0")))
"""

CHANGES = [
    ("aws_security_group_rule.api_ingress", "aws_security_group_rule", ["update"]),
    ('aws_ecs_task_definition.this["api"]', "aws_ecs_task_definition", ["delete", "create"]),
]


def plan_json(changes: list[tuple[str, str, list[str]]]) -> str:
    return json.dumps(
        {
            "format_version": "1.2",
            "resource_changes": [
                {"address": a, "type": t, "mode": "managed", "change": {"actions": c}}
                for a, t, c in changes
            ],
        }
    )


@pytest.fixture
def job(tmp_path, environment, monkeypatch):
    """shipline.yml, a blueprint folder and the stand-in terraform (via $SHIPLINE_TERRAFORM)."""
    config = write_config(tmp_path, environment)
    stand_in = tmp_path / "terraform"
    stand_in.write_text(STAND_IN.format(python=sys.executable), encoding="utf-8")
    stand_in.chmod(0o755)
    (tmp_path / "infra").mkdir()
    during = tmp_path / "during-apply.json"
    monkeypatch.chdir(tmp_path)  # the plan file goes to ./shipline.tfplan
    monkeypatch.setenv("SHIPLINE_TERRAFORM", str(stand_in))
    monkeypatch.setenv("STANDIN_PLAN_JSON", plan_json(CHANGES))
    monkeypatch.setenv("SHIPLINE_CONFIG", str(config))
    monkeypatch.setenv("STANDIN_DURING_APPLY", str(during))
    monkeypatch.setenv("STANDIN_OTHER_IMAGE", f"api={environment.image('api', 'v9')}")
    return config, tmp_path / "infra", during


def cli(capsys, config, *args):
    return run_cli(capsys, *args)  # shipline.yml from $SHIPLINE_CONFIG


def acquire(capsys, config) -> str:
    ran = cli(capsys, config, "lock", "acquire", "-e", "sim", "--json")
    assert ran.code == 0, ran.err
    return ran.json()["release_id"]


def apply(capsys, config, blueprint, release_id):
    return cli(
        capsys,
        config,
        "terraform",
        "apply",
        "--dir",
        str(blueprint),
        "--no-init",
        "-e",
        "sim",
        "--release-id",
        release_id,
    )


def test_the_lock_is_held_from_before_apply_and_a_refused_deploy_says_what_terraform_changed(
    capsys, sandbox, environment, job, s3, ecs, tmp_path, monkeypatch
):
    config, blueprint, during = job
    before = running_task_definitions(environment, ecs)
    release_id = acquire(capsys, config)
    [record] = records(environment, s3)
    assert (record["release_id"], record["status"]) == (release_id, "in_progress")

    applied = apply(capsys, config, blueprint, release_id)
    assert applied.code == 0, applied.err

    # While Terraform applied, the environment was locked by this release: another deploy
    # started then was refused (exit 2) and changed nothing.
    seen = json.loads(during.read_text())
    assert seen["lock"]["locked"] is True and seen["lock"]["release_id"] == release_id
    assert seen["other_exit"] == 2, seen["other_err"]
    assert f"locked by release {release_id}" in seen["other_err"]
    [record] = records(environment, s3)
    assert record["terraform"] == {
        "status": "applied",
        "changes": [
            {"address": address, "type": kind, "action": "update" if len(acts) == 1 else "replace"}
            for address, kind, acts in CHANGES
        ],
    }

    # The deploy step is refused in its preflight (a task definition that does not exist).
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path / "outputs"))
    missing = environment.task_definitions["api"].rsplit(":", 1)[0] + ":999"
    ran = cli(
        capsys,
        config,
        "deploy",
        "-e",
        "sim",
        "--release-id",
        release_id,
        "--task-definition",
        f"api={missing}",
        "--json",
    )
    # Not "refused before any change" (2): Terraform changed the security group rule.
    assert ran.code == 3, ran.err
    result = ran.json()
    assert result["status"] == "failed" and result["release_id"] == release_id
    assert "aws_security_group_rule.api_ingress (update)" in result["error"]
    assert result["terraform"]["status"] == "applied"
    text = summary.read_text()
    assert "Terraform changed within this release" in text
    assert "` aws_security_group_rule.api_ingress `: update" in text
    # One record for the whole release, ended; the lock is free; no service moved.
    [record] = records(environment, s3)
    assert record["status"] == "failed" and record["finished_at"]
    assert "Terraform had already changed 2 resource(s)" in record["error"]
    assert not lock_exists(environment, s3)
    assert running_task_definitions(environment, ecs) == before


def test_a_session_deploy_adopts_the_lock_and_record_and_moves_the_services(
    capsys, sandbox, environment, job, s3, ecs, monkeypatch
):
    config, blueprint, _ = job
    monkeypatch.setenv("STANDIN_PLAN_JSON", plan_json([CHANGES[1]]))
    release_id = acquire(capsys, config)
    assert apply(capsys, config, blueprint, release_id).code == 0
    live = running_task_definitions(environment, ecs)
    new_api = register_variant(
        ecs, live["api"], lambda c: c["environment"].append({"name": "FEATURE", "value": "on"})
    )

    ran = cli(
        capsys,
        config,
        "deploy",
        "-e",
        "sim",
        "--release-id",
        release_id,
        "--task-definition",
        f"api={new_api}",
        "--json",
    )

    assert ran.code == 0, ran.err
    assert running_task_definitions(environment, ecs)["api"] == new_api
    [record] = records(environment, s3)
    assert record["release_id"] == release_id and record["status"] == "succeeded"
    assert record["services"]["api"]["task_definition"] == new_api
    assert record["terraform"]["status"] == "applied"
    assert not lock_exists(environment, s3)


def test_a_plan_that_changes_nothing_is_not_applied_and_the_record_says_unchanged(
    capsys, sandbox, environment, job, s3, ecs, monkeypatch
):
    config, blueprint, during = job
    # What Terraform writes for a plan with nothing to do: every action no-op, not applyable.
    nothing = json.loads(plan_json([(a, t, ["no-op"]) for a, t, _ in CHANGES]))
    monkeypatch.setenv("STANDIN_PLAN_JSON", json.dumps({**nothing, "applyable": False}))
    before = running_task_definitions(environment, ecs)
    release_id = acquire(capsys, config)

    applied = apply(capsys, config, blueprint, release_id)

    assert applied.code == 0, applied.err
    assert not during.exists()  # terraform apply never ran
    assert applied.err.count("no changes: apply skipped") == 1
    [record] = records(environment, s3)
    assert record["terraform"] == {"status": "unchanged", "changes": []}
    assert lock_exists(environment, s3)  # still the release's, for its deploy step
    # Terraform changed nothing: a deploy refused in its preflight left all as it was (exit 2).
    missing = environment.task_definitions["api"].rsplit(":", 1)[0] + ":999"
    ran = cli(
        capsys,
        config,
        "deploy",
        "-e",
        "sim",
        "--release-id",
        release_id,
        "--task-definition",
        f"api={missing}",
    )
    assert ran.code == 2, ran.err
    assert "Terraform" not in ran.err
    assert running_task_definitions(environment, ecs) == before


def test_a_session_deploy_is_refused_when_its_release_does_not_hold_the_lock(
    capsys, sandbox, environment, job, s3, ecs
):
    config, _, _ = job
    release_id = acquire(capsys, config)
    assert cli(capsys, config, "lock", "release", "-e", "sim", "--force").code == 0
    other = acquire(capsys, config)
    before = running_task_definitions(environment, ecs)

    ran = cli(
        capsys,
        config,
        "deploy",
        "-e",
        "sim",
        "--release-id",
        release_id,
        "--image",
        f"api={environment.image('api', 'v2')}",
    )

    # No Terraform change in the release: nothing changed, exit 2; the other lock stays.
    assert ran.code == 2, ran.err
    assert "does not hold the lock" in ran.err
    assert running_task_definitions(environment, ecs) == before
    mine = next(r for r in records(environment, s3) if r["release_id"] == release_id)
    assert mine["status"] == "failed"
    held = json.loads(cli(capsys, config, "lock", "status", "-e", "sim", "--json").out)
    assert held["release_id"] == other


def test_terraform_apply_is_refused_unless_its_release_holds_the_lock(
    capsys, sandbox, environment, job, s3
):
    config, blueprint, during = job
    release_id = acquire(capsys, config)
    assert cli(capsys, config, "lock", "release", "-e", "sim", "--force").code == 0
    acquire(capsys, config)  # another release holds the environment now

    ran = apply(capsys, config, blueprint, release_id)

    assert ran.code == 2, ran.err
    assert "does not hold the lock" in ran.err
    assert not during.exists()  # terraform apply never ran


def test_the_clean_up_ends_a_run_whose_terraform_failed_and_frees_the_lock(
    capsys, sandbox, environment, job, s3, monkeypatch
):
    config, blueprint, _ = job
    monkeypatch.setenv("STANDIN_APPLY_EXIT", "1")
    release_id = acquire(capsys, config)

    failed = apply(capsys, config, blueprint, release_id)
    assert failed.code == 3, failed.err  # terraform apply failed part-way: some may have changed
    assert lock_exists(environment, s3)  # held until the clean-up step

    ran = cli(
        capsys,
        config,
        "lock",
        "release",
        "-e",
        "sim",
        "--release-id",
        release_id,
        "--finish-record",
        "--json",
    )

    assert ran.code == 0, ran.err
    assert ran.json()["finished_here"] is True
    [record] = records(environment, s3)
    assert record["status"] == "failed"
    assert record["terraform"]["status"] == "failed"
    assert "Terraform may have changed 2 resource(s)" in record["error"]
    assert not lock_exists(environment, s3)
    # Run again (a second clean-up): nothing left to do, still exit 0.
    again = cli(
        capsys,
        config,
        "lock",
        "release",
        "-e",
        "sim",
        "--release-id",
        release_id,
        "--finish-record",
        "--json",
    )
    assert again.code == 0 and again.json()["finished_here"] is False


def test_a_deploy_without_a_release_id_is_refused_while_a_session_holds_the_lock(
    capsys, sandbox, environment, job, s3
):
    config, _, _ = job
    release_id = acquire(capsys, config)
    ran = cli(
        capsys, config, "deploy", "-e", "sim", "--image", f"api={environment.image('api', 'v2')}"
    )
    assert ran.code == 2
    assert f"locked by release {release_id}" in ran.err


def test_the_session_starts_before_terraform_has_exported_the_cluster_and_urls(
    capsys, sandbox, environment, job, s3, ecs, monkeypatch
):
    # As on a real first step of deploy.yml: shipline.yml names the cluster and health URLs by
    # variables that only Terraform's outputs set, and another environment needs variables of
    # its own. Taking the lock and applying read only the history location.
    config, blueprint, _ = job
    document = yaml.safe_load(config.read_text(encoding="utf-8"))
    sim = document["environments"]["sim"]
    sim["cluster"] = "${SESSION_CLUSTER}"
    sim["services"]["api"]["health"] = "${SESSION_API_URL}/health/ready"
    document["environments"]["staging"] = {**sim, "cluster": "${STAGING_ONLY_CLUSTER}"}
    config.write_text(yaml.safe_dump(document), encoding="utf-8")
    for name in ("SESSION_CLUSTER", "SESSION_API_URL", "STAGING_ONLY_CLUSTER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("STANDIN_PLAN_JSON", plan_json([CHANGES[1]]))

    release_id = acquire(capsys, config)
    assert apply(capsys, config, blueprint, release_id).code == 0
    assert cli(capsys, config, "history", "-e", "sim").code == 0

    # The deploy reads the cluster and the URLs: it names what is missing, and nothing moves.
    live = running_task_definitions(environment, ecs)
    deploy = ("deploy", "-e", "sim", "--release-id", release_id, "--task-definition")
    refused = cli(capsys, config, *deploy, f"api={live['api']}")
    assert refused.code in (2, 3), refused.err
    assert "SESSION_CLUSTER is not set" in refused.err
    assert "STAGING_ONLY_CLUSTER" not in refused.err
    assert running_task_definitions(environment, ecs) == live


def test_a_deploy_needs_no_variable_of_another_environment(
    capsys, sandbox, environment, job, ecs, monkeypatch
):
    config, _, _ = job
    document = yaml.safe_load(config.read_text(encoding="utf-8"))
    document["environments"]["staging"] = {
        **document["environments"]["sim"],
        "cluster": "${STAGING_ONLY_CLUSTER}",
    }
    config.write_text(yaml.safe_dump(document), encoding="utf-8")
    monkeypatch.delenv("STAGING_ONLY_CLUSTER", raising=False)
    live = running_task_definitions(environment, ecs)
    new_api = register_variant(
        ecs, live["api"], lambda c: c["environment"].append({"name": "FEATURE", "value": "on"})
    )

    ran = cli(capsys, config, "deploy", "-e", "sim", "--task-definition", f"api={new_api}")

    assert ran.code == 0, ran.err
    assert cli(capsys, config, "config", "check").code == 2  # the file as a whole still needs it
