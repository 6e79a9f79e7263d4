"""A deploy whose final record write is refused, tried as an attacker: exit 3, never 1.

Exit 1 means "failed, the environment is as it was". When services moved and the release's
outcome could not be recorded (here: someone changed the record in S3 while the deploy was
rolling out, so the conditional write is correctly refused), the exit code is 3.
"""

from __future__ import annotations

import json

from test_deploy_crash import BASE_POLICY, deploy_held_in, finish

from support.deploy_support import lock_exists, records, running_task_definitions


def test_a_refused_final_write_after_services_moved_exits_3(sandbox, environment, s3, tmp_path):
    before = running_task_definitions(environment, sandbox.client("ecs"))
    _, process, _ = deploy_held_in("during rollout", sandbox, environment, tmp_path)
    [held] = records(environment, s3)
    key = f"releases/sim/{held['release_id']}.json"
    tampered = {**held, "actor": "someone-else"}
    s3.put_object(Bucket=environment.history_bucket, Key=key, Body=json.dumps(tampered).encode())
    sandbox.policy(BASE_POLICY)  # the rollout converges; the release succeeds

    code, err = finish(process, timeout=60)

    assert code == 3, err
    after = running_task_definitions(environment, sandbox.client("ecs"))
    assert after["api"] != before["api"]  # the services did move
    # One line says why and what to do next.
    [reason] = [line for line in err.splitlines() if "not recorded" in line]
    assert reason.startswith(f"deploy {held['release_id']} ")
    assert "changed or removed by someone else" in reason and "shipline history" in reason
    # The other writer's version is kept, not overwritten.
    [kept] = records(environment, s3)
    assert kept == tampered
    assert not lock_exists(environment, s3)
