"""Deploys as separate processes: two at once (one wins the lock), and SIGINT / SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from support.deploy_support import lock_exists, records, running_task_definitions, write_config
from support.sim_sandbox import wait_for


def start_deploy(config, *args):
    # --verbose: the lines the tests wait for ("migration task: RUNNING", ...) are details.
    command = [sys.executable, "-m", "shipline", "deploy", "--config", str(config), "-e", "sim"]
    return subprocess.Popen(
        [*command, "--verbose", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )


def image_args(environment, tag):
    return ["--image", f"api={environment.image('api', tag)}"]


def test_two_deploys_started_at_once_exactly_one_wins_the_lock(sandbox, environment, tmp_path):
    sandbox.policy(
        {"services": {"*": {"converge_seconds": 1.0}}, "tasks": {"*": {"run_seconds": 0.5}}}
    )
    config = write_config(tmp_path, environment)
    s3, ecs = sandbox.client("s3"), sandbox.client("ecs")
    first = start_deploy(config, *image_args(environment, "v2"))
    second = start_deploy(config, *image_args(environment, "v3"))
    results = [(p.wait(timeout=60), *p.communicate()) for p in (first, second)]

    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 2], results
    loser_err = next(err for code, _, err in results if code == 2)
    assert "is locked by release" in loser_err
    [record] = records(environment, s3)  # the loser wrote nothing
    assert record["status"] == "succeeded"
    winner_tag = record["images"]["api"].rsplit(":", 1)[-1]
    api = running_task_definitions(environment, ecs)["api"]
    task_definition = ecs.describe_task_definition(taskDefinition=api)["taskDefinition"]
    assert task_definition["containerDefinitions"][0]["image"].endswith(f":{winner_tag}")
    assert not lock_exists(environment, s3)


def wait_for_text(process, stream_text, needle, timeout=30.0):
    """Read stderr lines of `process` until one contains `needle`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            break
        stream_text.append(line)
        if needle in line:
            return
    raise AssertionError(f"never saw {needle!r}; stderr so far: {''.join(stream_text)}")


def test_sigterm_while_services_move_records_interrupted_and_exits_3(
    sandbox, environment, tmp_path
):
    sandbox.policy(
        {"services": {"*": {"converge_seconds": 30}}, "tasks": {"*": {"run_seconds": 0.2}}}
    )
    config = write_config(tmp_path, environment)
    s3 = sandbox.client("s3")
    process = start_deploy(config, *image_args(environment, "v2"))
    seen: list[str] = []
    wait_for_text(process, seen, "waiting for them together")

    process.send_signal(signal.SIGTERM)
    _out, err = process.communicate(timeout=30)

    assert process.returncode == 3, "".join(seen) + err
    [record] = records(environment, s3)
    assert record["status"] == "interrupted"
    assert "SIGTERM" in record["error"] and "while services were moving" in record["error"]
    assert not lock_exists(environment, s3)


def test_sigint_during_the_migration_records_interrupted_and_exits_1(
    sandbox, environment, tmp_path
):
    sandbox.policy(
        {"services": {"*": {"converge_seconds": 0.2}}, "tasks": {"*": {"run_seconds": 30}}}
    )
    config = write_config(tmp_path, environment)
    s3, ecs = sandbox.client("s3"), sandbox.client("ecs")
    before = running_task_definitions(environment, ecs)
    process = start_deploy(config, *image_args(environment, "v2"))
    seen: list[str] = []
    wait_for_text(process, seen, "migration task: RUNNING")

    process.send_signal(signal.SIGINT)
    _out, err = process.communicate(timeout=30)

    assert process.returncode == 1, "".join(seen) + err
    assert "Traceback" not in err
    [record] = records(environment, s3)
    assert record["status"] == "interrupted" and "SIGINT" in record["error"]
    assert running_task_definitions(environment, ecs) == before
    assert wait_for(lambda: not lock_exists(environment, s3))
