"""`shipline migrate` alone: the one-off task, its exit code and its log tail."""

from __future__ import annotations

import signal
import subprocess
import sys

from support.deploy_support import (
    image_of,
    lock_exists,
    records,
    revision_count,
    run_cli,
    running_task_definitions,
    write_config,
)
from support.sim_sandbox import register_revision


def migrate(capsys, config, *args):
    return run_cli(capsys, "migrate", "--config", str(config), "-e", "sim", *args)


def test_migrate_with_an_image_registers_a_revision_and_runs_it(
    capsys, sandbox, environment, tmp_path
):
    ecs = sandbox.client("ecs")
    config = write_config(tmp_path, environment)
    before = running_task_definitions(environment, ecs)

    ran = migrate(capsys, config, "--image", f"api={environment.image('api', 'v2')}", "--json")

    assert ran.code == 0, ran.err
    result = ran.json()
    assert result["ok"] and result["exit_code"] == 0
    assert result["task_definition"].endswith("agent-saas-sim-api:2")
    # The tag was resolved in the registry: the migration runs that image by digest.
    assert image_of(ecs, result["task_definition"], "api") == environment.pinned("api", "v2")
    [task] = ecs.describe_tasks(cluster=environment.cluster, tasks=[result["task_arn"]])["tasks"]
    assert task["overrides"]["containerOverrides"][0]["command"] == [
        "starter-console",
        "release",
        "db",
    ]
    assert running_task_definitions(environment, ecs) == before  # no service moved


def test_a_failing_migration_exits_1_with_its_last_50_log_lines_and_stop_reason(
    capsys, sandbox, environment, tmp_path
):
    ecs = sandbox.client("ecs")
    config = write_config(tmp_path, environment)
    given = register_revision(
        ecs, environment.task_definitions["api"], "api", environment.image("api", "v5")
    )
    sandbox.policy(
        {
            "tasks": {
                "*": {"run_seconds": 0.2},
                environment.families["api"]: {
                    "exit_code": 1,
                    "logs": [f"line {n}" for n in range(1, 121)],
                    "reason": "migration failed",
                },
            }
        }
    )
    count = revision_count(environment, ecs)

    ran = migrate(capsys, config, "--task-definition", given)

    assert ran.code == 1, ran.err
    shown = [line for line in ran.err.splitlines() if line.startswith("  | ")]
    assert shown == [f"  | line {n}" for n in range(71, 121)]
    assert "migration failed (exit code 1): migration failed" in ran.err
    assert revision_count(environment, ecs) == count


def test_migrate_refuses_an_image_key_the_migrate_service_does_not_run(
    capsys, sandbox, environment, tmp_path
):
    config = write_config(tmp_path, environment)
    ran = migrate(capsys, config, "--image", f"web={environment.image('web', 'v2')}")
    assert ran.code == 2
    assert "whose image key is 'api'" in ran.err


def test_migrate_without_a_migrate_section_is_refused(capsys, sandbox, environment, tmp_path):
    config = write_config(tmp_path, environment, migrate=None)
    ran = migrate(capsys, config, "--image", f"api={environment.image('api', 'v2')}")
    assert ran.code == 2
    assert "has no `migrate` section" in ran.err


def test_an_interrupted_migration_names_its_running_task_and_how_to_stop_it(
    sandbox, environment, tmp_path
):
    sandbox.policy({"tasks": {"*": {"run_seconds": 120}}})  # the migration runs on
    config = write_config(tmp_path, environment)
    command = [sys.executable, "-m", "shipline", "migrate", "--config", str(config), "-e", "sim"]
    command += ["--verbose"]  # the task's "started:" line is a detail line
    command += ["--image", f"api={environment.image('api', 'v2')}"]
    process = subprocess.Popen(
        command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
    )
    assert process.stderr is not None
    seen = []
    for line in process.stderr:  # the task has started once its id is printed
        seen.append(line)
        if "started:" in line:
            break
    process.send_signal(signal.SIGTERM)
    rest = process.stderr.read()
    assert process.wait(timeout=30) == 1, "".join(seen) + rest

    ecs = sandbox.client("ecs")
    running = ecs.list_tasks(cluster=environment.cluster, desiredStatus="RUNNING")["taskArns"]
    described = ecs.describe_tasks(cluster=environment.cluster, tasks=running)["tasks"]
    [task] = [t["taskArn"] for t in described if t.get("startedBy") == "shipline-migrate"]
    task_id = task.rsplit("/", 1)[-1]
    last = rest.strip().splitlines()[-1]
    assert f"the migration task {task_id} is still running in ECS" in last, rest
    assert f"`aws ecs stop-task --cluster {environment.cluster} --task {task_id}`" in last


def test_a_migration_holds_the_environment_and_is_recorded_as_a_release(
    capsys, sandbox, s3, environment, tmp_path
):
    """`shipline migrate` changes the database: it runs in a release session of its own (the
    lock for its length, a record of kind migrate), like every command that changes an
    environment."""
    config = write_config(tmp_path, environment)

    ran = migrate(capsys, config, "--image", f"api={environment.image('api', 'v2')}", "--json")

    assert ran.code == 0, ran.err
    [record] = records(environment, s3)
    assert (record["kind"], record["status"]) == ("migrate", "succeeded")
    assert record["release_id"] == ran.json()["release_id"]
    assert record["migrate"]["exit_code"] == 0
    assert record["migrate"]["task_arn"] == ran.json()["task_arn"]
    assert record["images"] == {"api": environment.pinned("api", "v2")}
    assert record["services"] == {}  # no service moved
    assert not lock_exists(environment, s3)  # released at the end
    history = run_cli(capsys, "history", "--config", str(config), "-e", "sim")
    assert ran.json()["release_id"] in history.out and "migrate" in history.out


def test_a_migration_while_another_release_holds_the_lock_is_refused_before_any_change(
    capsys, sandbox, s3, environment, tmp_path
):
    from shipline.config import load_environment
    from shipline.release.records import new_release_id
    from shipline.release.store import Lock

    ecs = sandbox.client("ecs")
    config = write_config(tmp_path, environment)
    holder = new_release_id()
    Lock(load_environment(config, "sim")).acquire(holder, "octocat@runner-7", ttl_seconds=600)
    revisions = revision_count(environment, ecs)

    ran = migrate(capsys, config, "--image", f"api={environment.image('api', 'v2')}")

    assert ran.code == 2, ran.err
    assert holder in ran.err and "octocat@runner-7" in ran.err
    assert revision_count(environment, ecs) == revisions  # nothing registered
    assert records(environment, s3) == []  # nothing recorded
    tasks = ecs.list_tasks(cluster=environment.cluster)["taskArns"] or ["none"]
    described = ecs.describe_tasks(cluster=environment.cluster, tasks=tasks)["tasks"]
    assert not [task for task in described if task.get("startedBy") == "shipline-migrate"]
