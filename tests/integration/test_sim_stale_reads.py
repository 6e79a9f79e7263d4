"""The sandbox's `stale_reads` rule: DescribeServices lags behind UpdateService, as ECS's
eventually consistent API may (over HTTP with boto3)."""

from __future__ import annotations

from typing import Any

from support.sim_sandbox import HOLD_SECONDS


def describe(ecs: Any, environment: Any, *keys: str) -> dict[str, dict[str, Any]]:
    names = [environment.services[key] for key in keys]
    answer = ecs.describe_services(cluster=environment.cluster, services=names)
    by_name = {s["serviceName"]: s for s in answer["services"]}
    return {key: by_name[environment.services[key]] for key in keys}


def test_stale_reads_show_the_service_as_before_the_update_then_the_new_deployment(
    sandbox, environment
):
    ecs = sandbox.client("ecs")
    api = environment.services["api"]
    # Held deployments: what the answers show is the rule's doing, not a rollout moving on.
    sandbox.policy({"services": {"*": {"converge_seconds": HOLD_SECONDS}, api: {"stale_reads": 2}}})
    before = describe(ecs, environment, "api")["api"]
    new_arn = environment.register_image("api", "v2")

    answer = ecs.update_service(cluster=environment.cluster, service=api, taskDefinition=new_arn)

    # UpdateService's own answer is current: the new deployment is PRIMARY.
    updated = answer["service"]
    assert updated["taskDefinition"] == new_arn
    new_primary = next(d for d in updated["deployments"] if d["status"] == "PRIMARY")
    assert new_primary["taskDefinition"] == new_arn
    # The next two DescribeServices calls naming api show it as it was (one call naming it
    # beside another service counts once); web, not updated, is answered as it is.
    for _ in range(2):
        stale = describe(ecs, environment, "api", "web")["api"]
        assert stale["taskDefinition"] == before["taskDefinition"]
        assert stale["deployments"] == before["deployments"]
        assert new_primary["id"] not in {d["id"] for d in stale["deployments"]}
    # The third is fresh: the new deployment PRIMARY and in progress beside the old one.
    fresh = describe(ecs, environment, "api")["api"]
    assert fresh["taskDefinition"] == new_arn
    primary, active = fresh["deployments"]
    assert (primary["id"], primary["status"], primary["rolloutState"]) == (
        new_primary["id"],
        "PRIMARY",
        "IN_PROGRESS",
    )
    assert (active["status"], active["taskDefinition"]) == ("ACTIVE", before["taskDefinition"])
    assert describe(ecs, environment, "api")["api"]["deployments"] == fresh["deployments"]


def test_without_stale_reads_the_first_answer_after_an_update_is_fresh(sandbox, environment):
    ecs = sandbox.client("ecs")
    sandbox.policy({"services": {"*": {"converge_seconds": HOLD_SECONDS}}})
    new_arn = environment.register_image("api", "v2")
    ecs.update_service(
        cluster=environment.cluster, service=environment.services["api"], taskDefinition=new_arn
    )
    assert describe(ecs, environment, "api")["api"]["taskDefinition"] == new_arn
