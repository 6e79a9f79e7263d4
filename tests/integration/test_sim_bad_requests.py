"""The sandbox answers requests as ECS does and never shows a steady state it did not reach.

The rules cited come from ECS's API reference, as botocore's ECS service model carries it
(botocore/data/ecs/2014-11-13/service-2.json):
- AwsVpcConfiguration.securityGroups: "If you don't specify a security group, the default
  security group for the VPC is used." (only `subnets` is required)
- TaskDefinition.memory: "If a task-level memory value is specified, the container-level memory
  value is optional."
- InvalidParameterException: "The specified parameter isn't valid."; ServerException: "These
  errors are usually caused by a server issue."
"""

from __future__ import annotations

import json
from typing import Any

import botocore.exceptions
import pytest
import requests

from support.sim_sandbox import wait_for

STEADY = "has reached a steady state"
REGION_SCOPE = "us-east-1/ecs/aws4_request"


def network(ec2: Any, *, dns_hostnames: bool = True, cidr: str = "10.77.0.0/16") -> dict[str, Any]:
    """A VPC with one subnet; the awsvpc configuration of a task in it (no security groups)."""
    vpc_id = ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]
    if dns_hostnames:
        ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsHostnames={"Value": True})
    subnet = ec2.create_subnet(VpcId=vpc_id, CidrBlock=cidr.replace("0.0/16", "1.0/24"))
    return {"awsvpcConfiguration": {"subnets": [subnet["Subnet"]["SubnetId"]]}}


def with_group(ec2: Any, config: dict[str, Any]) -> dict[str, Any]:
    subnet = config["awsvpcConfiguration"]["subnets"][0]
    vpc_id = ec2.describe_subnets(SubnetIds=[subnet])["Subnets"][0]["VpcId"]
    group = ec2.create_security_group(GroupName="tasks", Description="tasks", VpcId=vpc_id)
    return {"awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [group["GroupId"]]}}


def fargate_task_definition(ecs: Any, *, container_memory: bool = True) -> str:
    container: dict[str, Any] = {"name": "app", "image": "app:v1", "essential": True}
    if container_memory:
        container["memoryReservation"] = 256
    return ecs.register_task_definition(
        family="bad-requests",
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
        containerDefinitions=[container],
    )["taskDefinition"]["taskDefinitionArn"]


def create(
    ecs: Any,
    name: str,
    task_definition: str,
    config: dict[str, Any] | None,
    *,
    rollback: bool = True,
) -> None:
    extra = {"networkConfiguration": config} if config is not None else {}
    ecs.create_service(
        cluster="bad",
        serviceName=name,
        taskDefinition=task_definition,
        desiredCount=2,
        launchType="FARGATE",
        deploymentConfiguration={
            "deploymentCircuitBreaker": {"enable": True, "rollback": rollback}
        },
        **extra,
    )


def describe(ecs: Any, name: str) -> dict[str, Any]:
    return dict(ecs.describe_services(cluster="bad", services=[name])["services"][0])


def settled(ecs: Any, name: str) -> dict[str, Any] | None:
    """The service once its PRIMARY deployment left IN_PROGRESS."""
    service = describe(ecs, name)
    state = service["deployments"][0]["rolloutState"]
    return service if state != "IN_PROGRESS" else None


def assert_converged_with_running_tasks(ecs: Any, name: str) -> None:
    service = wait_for(lambda: settled(ecs, name))
    assert service["deployments"][0]["rolloutState"] == "COMPLETED"
    assert service["runningCount"] == service["desiredCount"] == 2
    tasks = ecs.list_tasks(cluster="bad", serviceName=name)["taskArns"]
    assert len(tasks) == 2


@pytest.fixture
def clients(sandbox: Any) -> tuple[Any, Any]:
    ecs, ec2 = sandbox.client("ecs"), sandbox.client("ec2")
    ecs.create_cluster(clusterName="bad")
    return ecs, ec2


def test_a_vpc_without_dns_hostnames_runs_the_services_tasks(clients):
    ecs, ec2 = clients
    config = with_group(ec2, network(ec2, dns_hostnames=False))
    create(ecs, "no-dns", fargate_task_definition(ecs), config)
    assert_converged_with_running_tasks(ecs, "no-dns")


def test_memory_only_at_task_level_runs_tasks(clients):
    ecs, ec2 = clients
    task_definition = fargate_task_definition(ecs, container_memory=False)
    create(ecs, "task-memory", task_definition, with_group(ec2, network(ec2)))
    assert_converged_with_running_tasks(ecs, "task-memory")
    answer = ecs.run_task(
        cluster="bad",
        taskDefinition=task_definition,
        launchType="FARGATE",
        networkConfiguration=with_group(ec2, network(ec2, cidr="10.78.0.0/16")),
    )
    assert answer["failures"] == [] and answer["tasks"][0]["lastStatus"] == "RUNNING"


def test_without_security_groups_the_vpcs_default_group_is_used(clients):
    ecs, ec2 = clients
    config = network(ec2)
    create(ecs, "no-groups", fargate_task_definition(ecs), config)
    assert_converged_with_running_tasks(ecs, "no-groups")
    subnet = config["awsvpcConfiguration"]["subnets"][0]
    vpc_id = ec2.describe_subnets(SubnetIds=[subnet])["Subnets"][0]["VpcId"]
    default = ec2.describe_security_groups(
        Filters=[
            {"Name": "vpc-id", "Values": [vpc_id]},
            {"Name": "group-name", "Values": ["default"]},
        ]
    )["SecurityGroups"][0]["GroupId"]
    service = ecs.describe_services(cluster="bad", services=["no-groups"])["services"][0]
    assert service["networkConfiguration"]["awsvpcConfiguration"]["securityGroups"] == [default]


def test_an_awsvpc_service_without_network_configuration_is_an_invalid_parameter(clients):
    ecs, _ = clients
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        create(ecs, "no-network", fargate_task_definition(ecs), None)
    error = raised.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert error["Error"]["Code"] == "InvalidParameterException"
    assert "Network Configuration must be provided" in error["Error"]["Message"]
    assert ecs.describe_services(cluster="bad", services=["no-network"])["services"] == []


def test_tasks_that_cannot_start_never_show_a_steady_state(clients):
    ecs, ec2 = clients
    config = with_group(ec2, network(ec2))
    create(ecs, "lost-subnet", fargate_task_definition(ecs), config, rollback=False)
    assert_converged_with_running_tasks(ecs, "lost-subnet")
    seen = {e["id"] for e in describe(ecs, "lost-subnet")["events"]}

    # The subnet goes away: a new deployment cannot start a single task.
    ec2.delete_subnet(SubnetId=config["awsvpcConfiguration"]["subnets"][0])
    ecs.update_service(cluster="bad", service="lost-subnet", forceNewDeployment=True)
    service = wait_for(lambda: settled(ecs, "lost-subnet"))

    primary = service["deployments"][0]
    assert primary["rolloutState"] == "FAILED", primary
    assert primary["runningCount"] == 0
    new_events = [e["message"] for e in service["events"] if e["id"] not in seen]
    assert not [m for m in new_events if STEADY in m or "deployment completed" in m], new_events
    assert any("unable to place a task" in m for m in new_events), new_events


def test_an_unexpected_failure_in_a_hook_is_an_ecs_error_not_a_crash(sandbox, clients):
    """UpdateService without `service` (a request botocore would not send): ECS-style JSON."""
    answer = requests.post(
        sandbox.url,
        data=json.dumps({"cluster": "bad"}),
        headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": "AmazonEC2ContainerServiceV20141113.UpdateService",
            "Authorization": f"AWS4-HMAC-SHA256 Credential=testing/20260101/{REGION_SCOPE}",
        },
        timeout=10,
    )
    assert answer.status_code == 500  # ECS answers ServerException with a 5xx
    body = answer.json()
    assert body["__type"].endswith("ServerException"), body
    assert "Traceback" not in answer.text and "<html" not in answer.text.lower()
    assert "Traceback" not in sandbox.stderr()
    assert sandbox.client("ecs").list_clusters()["clusterArns"] is not None  # still serving
