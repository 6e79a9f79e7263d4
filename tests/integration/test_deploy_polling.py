"""Waiting costs one DescribeServices call per poll for every ten services, not one per service."""

from __future__ import annotations

import math

from shipline.release.plan import render_task_definition
from shipline.release.rollout import Target, Watch, update_services, wait_for_services
from support.sim_sandbox import wait_for


def clone_services(ecs, environment, count):
    """`count` more services like the api, so one wait covers more than ten services."""
    [template] = ecs.describe_services(
        cluster=environment.cluster, services=[environment.services["api"]]
    )["services"]
    names = [f"extra-{index:02d}" for index in range(count)]
    for name in names:
        ecs.create_service(
            cluster=environment.cluster,
            serviceName=name,
            taskDefinition=template["taskDefinition"],
            desiredCount=1,
            launchType="FARGATE",
            networkConfiguration=template["networkConfiguration"],
        )
    return names


def test_describe_calls_grow_with_polls_times_batches_of_ten(sandbox, environment):
    sandbox.policy({"services": {"*": {"converge_seconds": 0.5}}})
    ecs = sandbox.client("ecs")
    names = clone_services(ecs, environment, 9) + list(environment.services.values())  # 12
    live = ecs.describe_task_definition(taskDefinition=environment.task_definitions["api"])
    request = render_task_definition(live, "api", environment.image("api", "v2"))
    new_arn = ecs.register_task_definition(**request)["taskDefinition"]["taskDefinitionArn"]
    targets = [Target(name, name, new_arn) for name in names]
    # The clones start converging when created; let them settle before the measured rollout.
    wait_for(
        lambda: all(
            s["deployments"][0]["rolloutState"] == "COMPLETED"
            for s in ecs.describe_services(cluster=environment.cluster, services=names[:9])[
                "services"
            ]
        )
    )
    assert set(update_services(ecs, environment.cluster, targets).values()) == {None}
    sandbox.reset_calls()
    watch = Watch()

    outcomes = wait_for_services(
        ecs, environment.cluster, targets, poll=0.1, timeout=20, watch=watch
    )

    assert all(outcome.succeeded for outcome in outcomes.values()), outcomes
    calls = sandbox.calls().get("ecs.DescribeServices", 0)
    assert calls == watch.describe_calls
    assert watch.polls >= 3, "the rollout should take several polls"
    assert calls <= watch.polls * math.ceil(len(targets) / 10)  # 2 per poll for 12 services
    assert calls < watch.polls * len(targets)
