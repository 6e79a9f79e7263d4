"""A deploy that outlives its lock must not undo the next release (against the sandbox).

Deploy A is held in health verification (its web image is unhealthy, so verification runs to
`health.timeout`). Meanwhile its lock expires: the test rewrites lock.json with an `expires_at`
in the past, as time would (a paused runner renews nothing), and deploy B takes the expired
lock over and succeeds. When A's verification fails, its automatic rollback must not put the
services back where they were before A: that would revert B while `history` shows B as live.
A has lost the lock: it changes nothing more, records why and exits 3 naming B.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from support.deploy_support import records, run_cli, running_task_definitions, write_config

HEALTH = {"timeout": 20, "interval": 0.2, "successes": 1, "request_timeout": 1}


def expire_lock(environment, s3) -> dict:
    """lock.json as it is, with expires_at in the past (written over it, a new ETag)."""
    key = "releases/sim/lock.json"
    lock = json.loads(s3.get_object(Bucket=environment.history_bucket, Key=key)["Body"].read())
    lock["expires_at"] = "2000-01-01T00:00:00.000Z"
    s3.put_object(Bucket=environment.history_bucket, Key=key, Body=json.dumps(lock).encode())
    return lock


def test_a_deploy_that_lost_its_lock_does_not_revert_the_next_release(
    capsys, sandbox, environment, tmp_path, ecs, s3
):
    sandbox.policy({"services": {"*": {"converge_seconds": 0.2, "unhealthy": "web:v3"}}})
    config = write_config(tmp_path, environment, health=HEALTH)
    before = running_task_definitions(environment, ecs)
    a = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "shipline",
            "deploy",
            "--verbose",  # "== verify" marks the phase's start
            "-e",
            "sim",
            "--config",
            str(config),
            "--image",
            f"api={environment.image('api', 'v2')}",
            "--image",
            f"web={environment.image('web', 'v3')}",
            "--json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )
    try:
        assert a.stderr is not None
        seen = []
        for line in a.stderr:  # A's services moved; it is verifying their health now
            seen.append(line)
            if line.startswith("== verify"):
                break
        assert seen and seen[-1].startswith("== verify"), "".join(seen)
        a_lock = expire_lock(environment, s3)

        b = run_cli(
            capsys,
            "deploy",
            "-e",
            "sim",
            "--config",
            str(config),
            "--image",
            f"api={environment.image('api', 'v4')}",
            "--json",
        )
        assert b.code == 0, b.err
        b_release = b.json()["release_id"]
        after_b = running_task_definitions(environment, ecs)

        out, err = a.communicate(timeout=120)
    finally:
        if a.poll() is None:
            a.kill()
    err = "".join(seen) + err

    # B's release stands: A changed nothing after it lost the lock.
    assert running_task_definitions(environment, ecs)["api"] == after_b["api"] != before["api"]
    assert a.returncode == 3, err
    result = json.loads(out)
    assert "lost the lock of sim" in result["error"]
    assert b_release in result["error"]  # names the release that holds the environment now
    by_id = {record["release_id"]: record for record in records(environment, s3)}
    assert by_id[a_lock["release_id"]]["status"] == "failed"
    assert "lost the lock" in by_id[a_lock["release_id"]]["error"]
    assert by_id[b_release]["status"] == "succeeded"
