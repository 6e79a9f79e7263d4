"""Injected faults over HTTP: boto3 retries throttled and failed calls, health flaps and hangs."""

from __future__ import annotations

import time

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError


def client(sandbox, service, attempts):
    config = Config(retries={"mode": "standard", "total_max_attempts": attempts})
    return boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=sandbox.region
    ).client(service, endpoint_url=sandbox.url, config=config)


@pytest.mark.parametrize(
    ("service", "operation", "call_name", "code"),
    [
        ("ecs", "list_clusters", "ecs.ListClusters", "ThrottlingException"),
        (
            "elbv2",
            "describe_load_balancers",
            "elasticloadbalancing.DescribeLoadBalancers",
            "Throttling",
        ),
        ("s3", "list_buckets", "s3.ListBuckets", "SlowDown"),
    ],
)
def test_a_throttled_operation_is_retried_by_boto3_until_it_gives_up(
    sandbox, service, operation, call_name, code
):
    sandbox.policy({"faults": {"operations": {call_name: {"throttle": 1}}}})
    with pytest.raises(ClientError) as caught:
        getattr(client(sandbox, service, 3), operation)()
    assert caught.value.response["Error"]["Code"] == code
    assert caught.value.response["ResponseMetadata"]["RetryAttempts"] == 2
    assert sandbox.calls()[call_name] == 3  # every attempt reached the sandbox
    [(fault, count)] = sandbox.faults().items()
    assert fault.startswith(call_name) and fault.endswith(code) and count == 3


def test_server_errors_are_retried_and_a_fraction_lets_calls_through(sandbox, environment):
    sandbox.policy(
        {
            "faults": {
                "seed": 3,
                "operations": {
                    "ecs.DescribeServices": {"server_error": 0.5, "server_error_status": 503}
                },
            }
        }
    )
    sandbox.reset_calls()
    ecs = client(sandbox, "ecs", 20)
    for _ in range(10):
        answer = ecs.describe_services(
            cluster=environment.cluster, services=[environment.services["api"]]
        )
        assert answer["services"][0]["status"] == "ACTIVE"
    calls = sandbox.calls()["ecs.DescribeServices"]
    injected = sandbox.faults()["ecs.DescribeServices 503 ServiceUnavailable"]
    assert calls == 10 + injected  # each failed attempt was retried once more
    assert 2 <= injected <= 25
    assert sandbox.calls().get("ecs.ListClusters", 0) == 0  # other operations untouched


def test_the_same_seed_fails_the_same_calls_after_a_reset(sandbox):
    policy = {"faults": {"seed": 11, "operations": {"ecs.ListClusters": {"throttle": 0.4}}}}

    def outcomes():
        ecs = client(sandbox, "ecs", 1)  # no retries: each call shows its own draw
        found = []
        for _ in range(20):
            try:
                ecs.list_clusters()
                found.append(True)
            except ClientError:
                found.append(False)
        return found

    sandbox.policy(policy)
    first = outcomes()
    sandbox.reset()
    sandbox.policy(policy)
    assert outcomes() == first
    assert 0 < first.count(False) < 20


def test_a_delay_holds_each_call_and_not_the_others(sandbox):
    sandbox.policy({"faults": {"operations": {"ecs.ListClusters": {"delay_seconds": 0.4}}}})
    ecs = client(sandbox, "ecs", 1)
    started = time.monotonic()
    ecs.list_clusters()
    assert time.monotonic() - started >= 0.4
    assert sandbox.faults() == {}  # a delay is not an error


def test_a_flapping_health_endpoint_alternates_and_counts_its_503s(sandbox, environment):
    api, web = environment.services["api"], environment.services["web"]
    sandbox.policy({"faults": {"health": {web: {"flap": "alternate"}}}})
    statuses = [sandbox.health(environment.cluster, web)[0] for _ in range(6)]
    assert statuses == [200, 503, 200, 503, 200, 503]
    assert {sandbox.health(environment.cluster, api)[0] for _ in range(4)} == {200}
    assert sandbox.faults() == {f"health {environment.cluster}/{web} 503": 3}


def test_a_random_flap_keeps_unhealthy_answers_unhealthy(sandbox, environment):
    web = environment.services["web"]
    sandbox.policy(
        {
            "services": {web: {"unhealthy": True}},
            "faults": {"seed": 2, "health": {"*": {"flap": 0.5}}},
        }
    )
    assert {sandbox.health(environment.cluster, web)[0] for _ in range(10)} == {503}


def test_a_hanging_health_endpoint_outlasts_a_client_timeout(sandbox, environment):
    web = environment.services["web"]
    sandbox.policy({"faults": {"health": {web: {"hang_seconds": 1.5}}}})
    url = f"{sandbox.url}/_sim/health/{environment.cluster}/{web}"
    started = time.monotonic()
    with pytest.raises(requests.Timeout):
        requests.get(url, timeout=0.3)
    assert time.monotonic() - started < 1.0
    assert requests.get(url, timeout=5).status_code == 200  # it answers, late
    assert sandbox.faults()[f"health {environment.cluster}/{web} hang"] == 2
