"""The sandbox's own endpoints: health, call counts, policy reloads, moto reset."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import requests

from support.sim_sandbox import HOLD_SECONDS, wait_for


def test_health_answers_200_then_503_for_an_unhealthy_image_then_404_for_unknown(
    sandbox, environment
):
    api, web = environment.services["api"], environment.services["web"]
    status, body = sandbox.health(environment.cluster, api)
    assert status == 200
    assert body["status"] == "ok"
    assert body["taskDefinition"] == environment.task_definitions["api"]
    assert body["images"] == [environment.images["api"]]

    sandbox.policy({"services": {api: {"unhealthy": "api:v1"}}})
    status, body = sandbox.health(environment.cluster, api)
    assert status == 503
    assert body["status"] == "unavailable"
    assert any("api:v1" in reason for reason in body["reasons"])
    assert sandbox.health(environment.cluster, web)[0] == 200  # the rule names one service

    sandbox.policy({"services": {"*": {"unhealthy": True}}})
    assert sandbox.health(environment.cluster, web)[0] == 503

    sandbox.policy({"services": {"*": {"unhealthy": True}, web: {"unhealthy": False}}})
    assert sandbox.health(environment.cluster, web)[0] == 200

    status, body = sandbox.health(environment.cluster, "no-such-service")
    assert status == 404 and "no-such-service" in body["reason"]
    assert sandbox.health("no-such-cluster", api)[0] == 404


def test_health_is_503_while_a_deployment_is_in_progress(sandbox, environment):
    ecs = sandbox.client("ecs")
    sandbox.policy({"services": {"*": {"converge_seconds": HOLD_SECONDS, "unhealthy": "web:v2"}}})
    web = environment.services["web"]
    new_arn = environment.register_image("web", "v2")
    ecs.update_service(cluster=environment.cluster, service=web, taskDefinition=new_arn)

    status, body = sandbox.health(environment.cluster, web)
    assert status == 503
    assert any("IN_PROGRESS" in reason for reason in body["reasons"])
    sandbox.policy({"services": {"*": {"converge_seconds": 0.1, "unhealthy": "web:v2"}}})

    # Completed, but the new image is the one the policy calls unhealthy.
    def completed() -> dict | None:
        _, answer = sandbox.health(environment.cluster, web)
        return answer if not any("IN_PROGRESS" in r for r in answer.get("reasons", [])) else None

    answer = wait_for(completed)
    assert answer["status"] == "unavailable"
    assert answer["taskDefinition"] == new_arn


def test_calls_are_counted_by_service_and_operation_and_reset(sandbox, environment):
    ecs, s3, logs, ec2 = (sandbox.client(name) for name in ("ecs", "s3", "logs", "ec2"))
    sandbox.reset_calls()
    assert sandbox.calls() == {}

    ecs.describe_services(cluster=environment.cluster, services=[environment.services["api"]])
    ecs.describe_services(cluster=environment.cluster, services=[environment.services["web"]])
    ec2.describe_vpcs()  # a query-protocol service
    logs.describe_log_groups()
    bucket = environment.history_bucket
    s3.put_object(Bucket=bucket, Key="releases/sim/1.json", Body=b"{}")
    s3.head_object(Bucket=bucket, Key="releases/sim/1.json")
    s3.get_object(Bucket=bucket, Key="releases/sim/1.json")["Body"].read()
    s3.list_objects_v2(Bucket=bucket, Prefix="releases/")
    s3.delete_object(Bucket=bucket, Key="releases/sim/1.json")
    sandbox.health(environment.cluster, environment.services["api"])  # not an AWS call

    assert sandbox.calls() == {
        "ecs.DescribeServices": 2,
        "ec2.DescribeVpcs": 1,
        "logs.DescribeLogGroups": 1,
        "s3.PutObject": 1,
        "s3.HeadObject": 1,
        "s3.GetObject": 1,
        "s3.ListObjectsV2": 1,
        "s3.DeleteObject": 1,
    }
    sandbox.reset_calls()
    assert sandbox.calls() == {}


def test_a_policy_change_is_picked_up_and_a_broken_one_keeps_the_last_good(sandbox, environment):
    api = environment.services["api"]
    assert sandbox.health(environment.cluster, api)[0] == 200
    sandbox.policy({"services": {"*": {"unhealthy": True}}})
    assert sandbox.health(environment.cluster, api)[0] == 503

    log_before = sandbox.stderr()
    sandbox.policy({"services": {"*": {"converge_seconds": "soon"}}})  # invalid
    assert sandbox.health(environment.cluster, api)[0] == 503  # still the last good policy
    new_lines = sandbox.stderr()[len(log_before) :].splitlines()
    assert len(new_lines) == 1
    assert "keeping the last good policy" in new_lines[0]
    assert "converge_seconds" in new_lines[0]

    sandbox.policy({"services": {"*": {"unhealthy": False}}})
    assert sandbox.health(environment.cluster, api)[0] == 200


def test_moto_reset_also_resets_the_scheduler_and_keeps_tasks_under_its_control(
    sandbox, environment
):
    api = environment.services["api"]
    assert sandbox.health(environment.cluster, api)[0] == 200
    requests.post(f"{sandbox.url}/moto-api/reset", timeout=30).raise_for_status()
    assert sandbox.health(environment.cluster, api)[0] == 404

    from shipline.sim.seed import seed_environment

    again = seed_environment(sandbox.url, region=sandbox.region)
    sandbox.policy({"tasks": {"*": {"run_seconds": HOLD_SECONDS}}})
    ecs = sandbox.client("ecs")
    arn = ecs.run_task(
        cluster=again.cluster,
        taskDefinition=again.task_definitions["api"],
        launchType="FARGATE",
        networkConfiguration=again.network_configuration(),
    )["tasks"][0]["taskArn"]
    for _ in range(5):
        task = ecs.describe_tasks(cluster=again.cluster, tasks=[arn])["tasks"][0]
        assert task["lastStatus"] == "RUNNING"
    time.sleep(0.05)
    assert sandbox.calls()["ecs.DescribeTasks"] == 5


def test_concurrent_clients_see_one_consistent_rollout(sandbox, environment):
    sandbox.policy({"services": {"*": {"converge_seconds": HOLD_SECONDS}}})
    api = environment.services["api"]
    new_arn = environment.register_image("api", "v2")
    ecs = sandbox.client("ecs")  # boto3 clients are safe to share between threads
    ecs.update_service(cluster=environment.cluster, service=api, taskDefinition=new_arn)
    started = time.monotonic()
    give_up = started + 30

    def poll(worker: int) -> list[tuple[int, int]]:
        """Describe until the rollout is seen complete; worker 0 releases it after 0.5 s."""
        seen: list[tuple[int, int]] = []
        while (1, 2) not in seen and time.monotonic() < give_up:
            service = ecs.describe_services(cluster=environment.cluster, services=[api])[
                "services"
            ][0]
            seen.append((len(service["deployments"]), service["runningCount"]))
            sandbox.health(environment.cluster, api)
            if worker == 0 and len(seen) == 1:
                time.sleep(max(0.0, started + 0.5 - time.monotonic()))
                sandbox.policy({"services": {"*": {"converge_seconds": 0.1}}})
        return seen

    with ThreadPoolExecutor(max_workers=6) as pool:
        observations = [o for seen in pool.map(poll, range(6)) for o in seen]
    # Two deployments with 2 + 2 tasks, or one with 2: never a half-applied state.
    assert set(observations) == {(2, 4), (1, 2)}
    assert sandbox.health(environment.cluster, api)[0] == 200
    final = ecs.describe_services(cluster=environment.cluster, services=[api])
    assert final["services"][0]["taskDefinition"] == new_arn
