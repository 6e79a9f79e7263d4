"""A deploy killed at each phase: what the user sees next and what brings the environment back.

Each case holds one phase open with the sandbox policy (a held AWS call, a long migration, a
long rollout), waits for the phase's progress line on stderr, then kills `shipline deploy`.
SIGKILL leaves the lock and an `in_progress` record behind: the next deploy is refused (exit 2)
naming both, `shipline lock release` lets it go on, and history keeps the interrupted release.
SIGTERM ends the release cleanly: `interrupted` recorded, lock released.
"""

from __future__ import annotations

import os
import re
import selectors
import signal
import subprocess
import sys
import time

import pytest

from support.deploy_support import lock_exists, records, run_cli, write_config
from support.sim_sandbox import HOLD_SECONDS

BASE_POLICY = {
    "services": {"*": {"converge_seconds": 0.2}},
    "tasks": {"*": {"run_seconds": 0.2}},
}
# phase -> (the policy that holds it open, the stderr line that shows it was reached)
PHASES = {
    "after the lock": (
        {"faults": {"operations": {"ecs.RegisterTaskDefinition": {"delay_seconds": HOLD_SECONDS}}}},
        ": locked sim, record ",
    ),
    "after registration": (
        {"faults": {"operations": {"ecs.RunTask": {"delay_seconds": HOLD_SECONDS}}}},
        "== migrate",
    ),
    "during migration": (
        {"tasks": {"*": {"run_seconds": HOLD_SECONDS}}},
        "migration task ",
    ),
    "during rollout": (
        {"services": {"*": {"converge_seconds": HOLD_SECONDS}}},
        "waiting for them together",
    ),
}
PHASE_TIMEOUT = 60.0


def start_deploy(config, environment, tag: str) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "shipline", "deploy", "--config", str(config), "-e", "sim"]
    command += ["--verbose"]  # the phase markers below are detail lines
    command += [f"--image=api={environment.image('api', tag)}"]
    command += [f"--image=web={environment.image('web', tag)}"]
    return subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)


def wait_for_line(process: subprocess.Popen[bytes], marker: str) -> str:
    """stderr up to the first line containing `marker` (the phase has been reached)."""
    assert process.stderr is not None
    selector = selectors.DefaultSelector()
    selector.register(process.stderr, selectors.EVENT_READ)
    deadline = time.monotonic() + PHASE_TIMEOUT
    seen = ""
    try:
        while marker not in seen:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not selector.select(remaining):
                raise AssertionError(f"no line with {marker!r} within {PHASE_TIMEOUT:g}s: {seen}")
            chunk = os.read(process.stderr.fileno(), 4096)
            if not chunk:
                raise AssertionError(f"deploy exited ({process.wait()}) early: {seen}")
            seen += chunk.decode(errors="replace")
    finally:
        selector.close()
    return seen


def finish(process: subprocess.Popen[bytes], timeout: float = 30.0) -> tuple[int, str]:
    assert process.stderr is not None
    rest = process.stderr.read().decode()
    return process.wait(timeout=timeout), rest


def shown_status(capsys, config, release_id: str) -> str:
    """The STATUS column of `shipline history` for one release."""
    history = run_cli(capsys, "history", "--config", str(config), "-e", "sim")
    assert history.code == 0, history.err
    [line] = [line for line in history.out.splitlines() if line.startswith(release_id)]
    return line.split()[2]


def deploy_held_in(phase, sandbox, environment, tmp_path):
    """A `shipline deploy` subprocess held open in `phase`: (config, process, the hold policy)."""
    hold, marker = PHASES[phase]
    config = write_config(tmp_path, environment)
    sandbox.policy({**BASE_POLICY, **hold})
    process = start_deploy(config, environment, "v2")
    wait_for_line(process, marker)
    return config, process, hold


@pytest.mark.parametrize("phase", list(PHASES))
def test_sigkill_leaves_a_held_lock_that_refuses_then_lock_release_lets_the_next_deploy_on(
    phase, capsys, sandbox, environment, s3, tmp_path
):
    config, process, _ = deploy_held_in(phase, sandbox, environment, tmp_path)
    process.send_signal(signal.SIGKILL)
    assert process.wait(timeout=10) == -signal.SIGKILL
    sandbox.policy(BASE_POLICY)  # AWS finishes what it was asked before the kill

    [killed] = records(environment, s3)
    assert killed["status"] == "in_progress"
    assert lock_exists(environment, s3)

    # What the user sees next: a refusal naming the lock and the release that holds it.
    refused = run_cli(
        capsys,
        "deploy",
        "--config",
        str(config),
        "-e",
        "sim",
        f"--image=api={environment.image('api', 'v3')}",
    )
    assert refused.code == 2, refused.err
    assert killed["release_id"] in refused.err and "lock" in refused.err
    [reason] = [line for line in refused.err.splitlines() if line.startswith("shipline: error:")]
    assert "locked by release " + killed["release_id"] in reason
    assert "that release is in_progress" in reason  # what its record says
    # and says what to do: the command it names, run as written, lets the next deploy on
    [hint] = re.findall(r"`shipline (lock release [^`]*)`", reason)
    assert hint == "lock release -e sim --force", reason  # the lock has not expired
    assert records(environment, s3) == [killed]  # nothing written by the refusal

    assert shown_status(capsys, config, killed["release_id"]) == "in_progress"  # holds the lock

    status = run_cli(capsys, "lock", "status", "--config", str(config), "-e", "sim")
    assert status.out.startswith("sim: locked: release " + killed["release_id"]), status
    released = run_cli(capsys, *hint.split(), "--config", str(config))
    assert released.code == 0, released.err
    assert not lock_exists(environment, s3)

    again = run_cli(
        capsys,
        "deploy",
        "--config",
        str(config),
        "-e",
        "sim",
        f"--image=api={environment.image('api', 'v3')}",
        f"--image=web={environment.image('web', 'v3')}",
    )
    assert again.code == 0, again.err
    history = run_cli(capsys, "history", "--config", str(config), "-e", "sim", "--json")
    listed = {entry["release_id"]: entry["status"] for entry in history.json()}
    assert listed[killed["release_id"]] == "in_progress"  # the interrupted release is kept
    assert sorted(listed.values()) == ["in_progress", "succeeded"]
    # Its lock is gone: the table shows it will never end (the record is not rewritten).
    assert shown_status(capsys, config, killed["release_id"]) == "abandoned"
    # No record lost or overwritten: the killed one is unchanged beside the new one.
    after = {record["release_id"]: record for record in records(environment, s3)}
    assert after[killed["release_id"]] == killed


@pytest.mark.parametrize("phase", list(PHASES))
def test_sigterm_records_interrupted_and_releases_the_lock(
    phase, capsys, sandbox, environment, s3, tmp_path
):
    _, process, hold = deploy_held_in(phase, sandbox, environment, tmp_path)
    process.send_signal(signal.SIGTERM)
    if "faults" in hold:
        # An AWS call in flight is finished first: let the held call answer once the signal
        # has had time to arrive.
        time.sleep(0.2)
        sandbox.policy(BASE_POLICY)
    code, err = finish(process)
    ecs = sandbox.client("ecs")
    running = ecs.list_tasks(cluster=environment.cluster, desiredStatus="RUNNING")["taskArns"]
    described = ecs.describe_tasks(cluster=environment.cluster, tasks=running)["tasks"]
    migrations = [t["taskArn"] for t in described if t.get("startedBy") == "shipline-migrate"]
    sandbox.policy(BASE_POLICY)

    [record] = records(environment, s3)
    assert record["status"] == "interrupted", err
    assert "SIGTERM" in record["error"]
    assert not lock_exists(environment, s3)
    moved = phase == "during rollout"
    assert code == (3 if moved else 1), err
    last = err.strip().splitlines()[-1]
    if moved:  # the next step is named on the last line
        assert "next: run `shipline rollback -e sim`" in last, err
    if phase == "during migration":  # the task SIGTERM left running, and how to stop it
        [task] = migrations
        task_id = task.rsplit("/", 1)[-1]
        assert f"the migration task {task_id} is still running in ECS" in last, err
        assert f"`aws ecs stop-task --cluster {environment.cluster} --task {task_id}`" in last
