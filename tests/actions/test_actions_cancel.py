"""Cancelling a run while a composite action's step works, as GitHub's runner cancels it:
SIGINT to the step's bash process alone, SIGTERM 7.5 s later, SIGKILL 2.5 s after that, and
whatever is left killed at the job's end (tests/support/actions/runner.py, `Cancel`).

The cancel must reach shipline and terraform: a release ends `interrupted` with its lock
released, and terraform is asked to stop (SIGINT) so it can release its state lock.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from actions.test_actions_sandbox import ACTIONS, job_env, running, workspace
from support.actions.runner import Cancel, run_action
from support.sim_sandbox import HOLD_SECONDS

__all__ = ["workspace"]  # the fixture, shared with test_actions_sandbox

BASE_POLICY = {
    "services": {"*": {"converge_seconds": 0.2}},
    "tasks": {"*": {"run_seconds": 0.2}},
}


def images(environment: Any, tag: str) -> str:
    return f"api={environment.image('api', tag)}\nweb={environment.image('web', tag)}\n"


def records(environment: Any, s3: Any) -> list[dict[str, Any]]:
    prefix = "releases/sim/"
    listed = s3.list_objects_v2(Bucket=environment.history_bucket, Prefix=prefix)
    return [
        json.loads(s3.get_object(Bucket=environment.history_bucket, Key=item["Key"])["Body"].read())
        for item in sorted(listed.get("Contents", []), key=lambda item: item["Key"])
        if not item["Key"].endswith("/lock.json")
    ]


def lock_held(environment: Any, s3: Any) -> bool:
    key = "releases/sim/lock.json"
    listed = s3.list_objects_v2(Bucket=environment.history_bucket, Prefix=key)
    return bool(listed.get("Contents"))


def test_a_cancelled_deploy_ends_interrupted_with_the_lock_released(
    sandbox, environment, workspace
):
    # The rollout never converges on its own: the cancel arrives while shipline waits for it.
    sandbox.policy({**BASE_POLICY, "services": {"*": {"converge_seconds": HOLD_SECONDS}}})
    try:
        done = run_action(
            ACTIONS / "ecs-deploy",
            {"environment": "sim", "images": images(environment, "v2")},
            env=job_env(),
            workspace=workspace,
            runner_temp=workspace / ".runner-temp",
            timeout=120,
            cancel=Cancel("deploy", lambda log: "waiting for them together" in log),
        )
        s3 = sandbox.client("s3")
        [record] = records(environment, s3)
        where = running(environment, sandbox)
    finally:
        sandbox.policy(BASE_POLICY)

    step = done.step("deploy")
    assert record["status"] == "interrupted", done.log  # in_progress when the cancel is lost
    assert "SIGINT" in record["error"]
    assert not lock_held(environment, s3)
    assert "SIGKILL" not in step.signals  # ended by itself, inside the runner's window
    # The services are where the record says: moving to the release's task definitions.
    assert set(record["services"]) == {"api", "web", "worker"}
    for key, entry in record["services"].items():
        assert where[key] == entry["task_definition"], key
    # The outputs the action declares still work without a shell after shipline.
    assert done.cancelled
    assert done.outputs["status"] == "interrupted"
    assert done.outputs["exit-code"] == "3"  # interrupted while services were moving
    assert done.outputs["release-id"] == record["release_id"]


def test_a_cancelled_rollback_ends_interrupted_with_the_lock_released(
    sandbox, environment, workspace
):
    for tag in ("v2", "v3"):  # a release to go back to, and the live one
        deployed = run_action(
            ACTIONS / "ecs-deploy",
            {"environment": "sim", "images": images(environment, tag)},
            env=job_env(),
            workspace=workspace,
            timeout=120,
        )
        assert deployed.exit_code == 0, deployed.log
    sandbox.policy({**BASE_POLICY, "services": {"*": {"converge_seconds": HOLD_SECONDS}}})
    try:
        done = run_action(
            ACTIONS / "rollback",
            {"environment": "sim"},
            env=job_env(),
            workspace=workspace,
            runner_temp=workspace / ".runner-temp",
            timeout=120,
            cancel=Cancel("rollback", lambda log: ": waiting: " in log),
        )
        s3 = sandbox.client("s3")
        rollback = records(environment, s3)[-1]
    finally:
        sandbox.policy(BASE_POLICY)
    assert rollback["kind"] == "rollback"
    assert rollback["status"] == "interrupted", done.log
    assert not lock_held(environment, s3)
    assert "SIGKILL" not in done.step("rollback").signals
    assert done.outputs["exit-code"] == "3"  # services were moving


def test_every_step_that_runs_shipline_execs_it():
    """Static guard for the steps no test cancels: a shipline command that calls AWS or
    terraform is the step's process (`exec`), never a child that bash keeps the cancel from."""
    import re

    import yaml

    call = re.compile(r"(?:^|[;&|(]\s*|\s)shipline\s")
    harmless = ("shipline --version", "shipline env from-terraform")  # no AWS, no terraform
    offenders = []
    for path in sorted(ACTIONS.glob("*/action.yml")):
        for step in yaml.safe_load(path.read_text())["runs"]["steps"]:
            for line in str(step.get("run", "")).splitlines():
                text = line.strip()
                if text.startswith(("#", "echo")) or "command -v shipline" in text:
                    continue
                called = call.search(" " + text) and not text.startswith("exec shipline")
                if called and not any(part in text for part in harmless):
                    offenders.append(f"{path.parent.name}: {text}")
    assert offenders == []


# --- terraform-apply: terraform itself is a stand-in (arguments, signals, exit codes only) ------

STAND_IN_TERRAFORM = """\
#!{python}
# Stand-in for the terraform CLI: logs its arguments and the signals it gets; `apply` runs until
# interrupted, then exits 1 as terraform does after a graceful stop.
import json, os, signal, sys, time
args = sys.argv[1:]
log_path = os.environ["TERRAFORM_LOG"]
def log(entry):
    with open(log_path, "a") as handle:
        handle.write(json.dumps(entry) + "\\n")
log(args)
command = next(a for a in args if not a.startswith("-"))
stopping = []
def interrupted(signum, _frame):
    log({{"signal": signal.Signals(signum).name}})
    stopping.append(signum)
signal.signal(signal.SIGINT, interrupted)
signal.signal(signal.SIGTERM, interrupted)
if command == "plan":
    out = next(a for a in args if a.startswith("-out=")).split("=", 1)[1]
    open(out, "w").write("binary plan")
elif command == "show":
    print(json.dumps({{"format_version": "1.2", "resource_changes": []}}))
elif command == "apply":
    print("stand-in terraform: apply started", flush=True)
    while not stopping:
        time.sleep(0.05)
    time.sleep(0.3)  # a graceful stop: the resource in flight, the state, the lock
    log({{"stopped": "gracefully"}})
    sys.exit(1)
"""


@pytest.fixture
def terraform_job(tmp_path: Path) -> tuple[dict[str, str], Path, Path]:
    tools = tmp_path / "tools"
    tools.mkdir()
    stand_in = tools / "terraform"
    stand_in.write_text(STAND_IN_TERRAFORM.format(python=sys.executable), encoding="utf-8")
    stand_in.chmod(0o755)
    workspace_dir = tmp_path / "workspace"
    (workspace_dir / "ops" / "infra" / "aws").mkdir(parents=True)
    log = tmp_path / "terraform.log"
    env = job_env()
    env.update(PATH=os.pathsep.join([str(tools), env["PATH"]]), TERRAFORM_LOG=str(log))
    return env, workspace_dir, log


def logged(log: Path) -> list[Any]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_a_cancelled_terraform_apply_asks_terraform_to_stop_and_waits_for_it(terraform_job):
    env, workspace_dir, log = terraform_job
    done = run_action(
        ACTIONS / "terraform-apply",
        {},
        env=env,
        workspace=workspace_dir,
        runner_temp=workspace_dir / ".runner-temp",
        timeout=60,
        # Once terraform itself is applying (shipline's own lines before it say "applying" too).
        cancel=Cancel("apply", lambda output: "stand-in terraform: apply started" in output),
    )
    entries = logged(log)
    calls = [entry for entry in entries if isinstance(entry, list)]
    commands = [next(a for a in call if not a.startswith("-")) for call in calls]
    assert commands == ["init", "plan", "show", "show", "apply"]
    signals = [e["signal"] for e in entries if isinstance(e, dict) and "signal" in e]
    assert signals[:1] == ["SIGINT"], done.log  # terraform never heard of the cancel
    assert {"stopped": "gracefully"} in entries  # and was waited for
    # A lock left by a killed run is waited for, not failed on at once.
    [plan] = [call for call in calls if "plan" in call]
    [apply] = [call for call in calls if "apply" in call]
    assert "-lock-timeout=5m" in plan
    assert "-lock-timeout=5m" in apply
    step = done.step("apply")
    assert "SIGKILL" not in step.signals
    assert step.exit_code == 3  # some resources may have changed
    assert "terraform apply was interrupted" in step.log
    assert done.step("outputs").skipped == "the run was cancelled"
