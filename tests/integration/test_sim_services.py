"""The sandbox's ECS services behave like ECS's scheduler (over HTTP with boto3)."""

from __future__ import annotations

import time
from typing import Any

from support.sim_sandbox import HOLD_SECONDS, wait_for


def describe(ecs: Any, environment: Any, key: str) -> dict[str, Any]:
    return ecs.describe_services(cluster=environment.cluster, services=[environment.services[key]])[
        "services"
    ][0]


def converged(ecs: Any, environment: Any, key: str) -> dict[str, Any] | None:
    service = describe(ecs, environment, key)
    deployments = service["deployments"]
    if len(deployments) == 1 and deployments[0]["rolloutState"] == "COMPLETED":
        return service
    return None


def service_tasks(ecs: Any, environment: Any, key: str, desired: str = "RUNNING") -> list[dict]:
    arns = ecs.list_tasks(
        cluster=environment.cluster, serviceName=environment.services[key], desiredStatus=desired
    )["taskArns"]
    if not arns:
        return []
    return ecs.describe_tasks(cluster=environment.cluster, tasks=arns)["tasks"]


def task_ip(task: dict[str, Any]) -> str:
    details = task["attachments"][0]["details"]
    return next(d["value"] for d in details if d["name"] == "privateIPv4Address")


def target_ips(elbv2: Any, target_group: str) -> set[str]:
    health = elbv2.describe_target_health(TargetGroupArn=target_group)["TargetHealthDescriptions"]
    return {t["Target"]["Id"] for t in health if t["TargetHealth"]["State"] == "healthy"}


def test_created_services_converge_with_tasks_targets_and_events(sandbox, environment):
    ecs, elbv2 = sandbox.client("ecs"), sandbox.client("elbv2")

    api = describe(ecs, environment, "api")
    assert api["runningCount"] == api["desiredCount"] == 2
    assert api["pendingCount"] == 0
    assert api["taskDefinition"] == environment.task_definitions["api"]
    [deployment] = api["deployments"]
    assert deployment["status"] == "PRIMARY"
    assert deployment["rolloutState"] == "COMPLETED"
    assert deployment["id"].startswith("ecs-svc/") and deployment["id"][8:].isdigit()
    assert deployment["taskDefinition"] == environment.task_definitions["api"]
    assert (deployment["desiredCount"], deployment["runningCount"]) == (2, 2)
    # moto drops the circuit breaker from create_service; the sandbox keeps it.
    breaker = api["deploymentConfiguration"]["deploymentCircuitBreaker"]
    assert breaker == {"enable": True, "rollback": True}

    events = api["events"]
    assert (
        events[0]["message"]
        == f"(service {environment.services['api']}) has reached a steady state."
    )
    assert all(event["id"] for event in events)
    stamps = [event["createdAt"] for event in events]
    assert stamps == sorted(stamps, reverse=True)  # newest first, like ECS

    tasks = service_tasks(ecs, environment, "api")
    assert len(tasks) == 2
    assert {t["group"] for t in tasks} == {f"service:{environment.services['api']}"}
    assert {t["startedBy"] for t in tasks} == {deployment["id"]}
    assert {t["lastStatus"] for t in tasks} == {"RUNNING"}
    assert {t["taskDefinitionArn"] for t in tasks} == {environment.task_definitions["api"]}
    assert target_ips(elbv2, environment.target_groups["api"]) == {task_ip(t) for t in tasks}

    # Every service runs its own tasks: six in the cluster, two per service.
    assert len(ecs.list_tasks(cluster=environment.cluster)["taskArns"]) == 6


def test_rollout_to_a_new_image_is_in_progress_then_completes(sandbox, environment):
    ecs, elbv2 = sandbox.client("ecs"), sandbox.client("elbv2")
    sandbox.policy({"services": {"*": {"converge_seconds": HOLD_SECONDS}}})
    old_arn = environment.task_definitions["api"]
    old_tasks = service_tasks(ecs, environment, "api")
    new_arn = environment.register_image("api", "v2")

    ecs.update_service(
        cluster=environment.cluster, service=environment.services["api"], taskDefinition=new_arn
    )

    during = describe(ecs, environment, "api")
    primary, active = during["deployments"]
    assert (primary["status"], primary["rolloutState"], primary["taskDefinition"]) == (
        "PRIMARY",
        "IN_PROGRESS",
        new_arn,
    )
    assert (active["status"], active["taskDefinition"]) == ("ACTIVE", old_arn)
    assert primary["desiredCount"] == primary["runningCount"] == 2
    assert active["runningCount"] == 2
    assert during["runningCount"] == 4
    assert during["taskDefinition"] == new_arn
    assert sandbox.health(environment.cluster, environment.services["api"])[0] == 503

    sandbox.policy({"services": {"*": {"converge_seconds": 0.1}}})  # release it
    after = wait_for(lambda: converged(ecs, environment, "api"))
    [deployment] = after["deployments"]
    assert deployment["id"] == primary["id"]
    assert deployment["taskDefinition"] == after["taskDefinition"] == new_arn
    assert after["runningCount"] == after["desiredCount"] == 2
    assert after["events"][0]["message"].endswith("has reached a steady state.")

    new_tasks = service_tasks(ecs, environment, "api")
    assert {t["taskDefinitionArn"] for t in new_tasks} == {new_arn}
    stopped = service_tasks(ecs, environment, "api", desired="STOPPED")
    assert {t["taskArn"] for t in stopped} == {t["taskArn"] for t in old_tasks}
    assert {t["lastStatus"] for t in stopped} == {"STOPPED"}
    assert {t["stopCode"] for t in stopped} == {"ServiceSchedulerInitiated"}
    assert target_ips(elbv2, environment.target_groups["api"]) == {task_ip(t) for t in new_tasks}
    assert sandbox.health(environment.cluster, environment.services["api"])[0] == 200


def test_failed_rollout_rolls_back_with_the_circuit_breaker(sandbox, environment):
    ecs = sandbox.client("ecs")
    service = environment.services["web"]
    rules = {service: {"fail": "web:v3"}}
    sandbox.policy({"services": {"*": {"converge_seconds": HOLD_SECONDS}, **rules}})
    old_arn = environment.task_definitions["web"]
    bad_arn = environment.register_image("web", "v3")
    ecs.update_service(cluster=environment.cluster, service=service, taskDefinition=bad_arn)
    held = describe(ecs, environment, "web")["deployments"]
    assert [d["rolloutState"] for d in held] == ["IN_PROGRESS", "COMPLETED"]
    assert held[0]["runningCount"] == 0 and held[0]["pendingCount"] == 2  # never get running
    failed_id = held[0]["id"]

    # Released: the first request that notices the failure sees the rollback in progress.
    sandbox.policy({"services": {"*": {"converge_seconds": 0.3}, **rules}})

    def rolling_back() -> dict[str, Any] | None:
        current = describe(ecs, environment, "web")
        states = [d["rolloutState"] for d in current["deployments"]]
        return current if "FAILED" in states else None

    during = wait_for(rolling_back)
    primary, failed = during["deployments"]
    assert (failed["id"], failed["status"], failed["rolloutState"]) == (
        failed_id,
        "ACTIVE",
        "FAILED",
    )
    assert failed["failedTasks"] > 0 and failed["runningCount"] == 0
    assert failed["taskDefinition"] == bad_arn
    assert (primary["status"], primary["rolloutState"], primary["taskDefinition"]) == (
        "PRIMARY",
        "IN_PROGRESS",
        old_arn,
    )
    assert during["taskDefinition"] == old_arn
    messages = [event["message"] for event in during["events"]]
    assert (
        f"(service {service}) (deployment {failed_id}) deployment failed: tasks failed to start."
        in messages
    )
    assert any(
        m.startswith(f"(service {service}) rolling back to deployment ecs-svc/") for m in messages
    )

    after = wait_for(lambda: converged(ecs, environment, "web"))
    assert after["deployments"][0]["taskDefinition"] == after["taskDefinition"] == old_arn
    assert after["runningCount"] == 2
    assert after["events"][0]["message"].endswith("has reached a steady state.")
    assert {t["taskDefinitionArn"] for t in service_tasks(ecs, environment, "web")} == {old_arn}


def test_failed_rollout_without_rollback_stays_failed(sandbox, environment):
    ecs = sandbox.client("ecs")
    service = environment.services["api"]
    sandbox.policy({"services": {"*": {"converge_seconds": 0.2, "fail": True}}})
    ecs.update_service(
        cluster=environment.cluster,
        service=service,
        deploymentConfiguration={"deploymentCircuitBreaker": {"enable": True, "rollback": False}},
    )
    assert len(describe(ecs, environment, "api")["deployments"]) == 1  # no new deployment
    old_arn = environment.task_definitions["api"]
    bad_arn = environment.register_image("api", "broken")
    ecs.update_service(cluster=environment.cluster, service=service, taskDefinition=bad_arn)

    def failed() -> dict[str, Any] | None:
        current = describe(ecs, environment, "api")
        return current if current["deployments"][0]["rolloutState"] == "FAILED" else None

    after = wait_for(failed)
    time.sleep(0.4)  # longer than converge_seconds: nothing else happens
    after = describe(ecs, environment, "api")
    primary, active = after["deployments"]
    assert (primary["status"], primary["rolloutState"], primary["taskDefinition"]) == (
        "PRIMARY",
        "FAILED",
        bad_arn,
    )
    assert primary["runningCount"] == 0 and primary["failedTasks"] > 0
    assert (active["status"], active["taskDefinition"], active["runningCount"]) == (
        "ACTIVE",
        old_arn,
        2,
    )
    assert after["runningCount"] == 2
    assert not any("rolling back" in e["message"] for e in after["events"])
    assert {t["taskDefinitionArn"] for t in service_tasks(ecs, environment, "api")} == {old_arn}
    assert sandbox.health(environment.cluster, service)[0] == 503


def test_scale_only_update_changes_counts_without_a_new_deployment(sandbox, environment):
    ecs, elbv2 = sandbox.client("ecs"), sandbox.client("elbv2")
    service = environment.services["api"]
    deployment_id = describe(ecs, environment, "api")["deployments"][0]["id"]

    ecs.update_service(cluster=environment.cluster, service=service, desiredCount=3)
    scaled = describe(ecs, environment, "api")
    [deployment] = scaled["deployments"]
    assert deployment["id"] == deployment_id
    assert scaled["runningCount"] == scaled["desiredCount"] == deployment["runningCount"] == 3
    assert len(service_tasks(ecs, environment, "api")) == 3
    assert len(target_ips(elbv2, environment.target_groups["api"])) == 3

    ecs.update_service(cluster=environment.cluster, service=service, desiredCount=0)
    drained = describe(ecs, environment, "api")
    assert drained["runningCount"] == drained["desiredCount"] == 0
    assert service_tasks(ecs, environment, "api") == []
    assert target_ips(elbv2, environment.target_groups["api"]) == set()


def test_force_new_deployment_replaces_the_tasks(sandbox, environment):
    ecs = sandbox.client("ecs")
    before = describe(ecs, environment, "worker")
    old_task_arns = {t["taskArn"] for t in service_tasks(ecs, environment, "worker")}

    sandbox.policy({"services": {"*": {"converge_seconds": HOLD_SECONDS}}})
    ecs.update_service(
        cluster=environment.cluster, service=environment.services["worker"], forceNewDeployment=True
    )
    during = describe(ecs, environment, "worker")
    assert [d["status"] for d in during["deployments"]] == ["PRIMARY", "ACTIVE"]
    assert during["deployments"][0]["id"] != before["deployments"][0]["id"]
    sandbox.policy({"services": {"*": {"converge_seconds": 0.1}}})

    after = wait_for(lambda: converged(ecs, environment, "worker"))
    assert after["deployments"][0]["taskDefinition"] == environment.task_definitions["worker"]
    new_task_arns = {t["taskArn"] for t in service_tasks(ecs, environment, "worker")}
    assert len(new_task_arns) == 2 and not new_task_arns & old_task_arns


def test_a_stopped_service_task_is_replaced(sandbox, environment):
    ecs, elbv2 = sandbox.client("ecs"), sandbox.client("elbv2")
    victim, survivor = service_tasks(ecs, environment, "api")
    ecs.stop_task(cluster=environment.cluster, task=victim["taskArn"], reason="testing")

    service = describe(ecs, environment, "api")
    assert service["runningCount"] == 2
    tasks = service_tasks(ecs, environment, "api")
    arns = {t["taskArn"] for t in tasks}
    assert survivor["taskArn"] in arns and victim["taskArn"] not in arns and len(arns) == 2
    assert target_ips(elbv2, environment.target_groups["api"]) == {task_ip(t) for t in tasks}
    stopped = ecs.describe_tasks(cluster=environment.cluster, tasks=[victim["taskArn"]])["tasks"][0]
    assert (stopped["lastStatus"], stopped["stopCode"]) == ("STOPPED", "UserInitiated")
