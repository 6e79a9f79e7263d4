"""Injected faults of the sandbox: look-up, draws, error shapes (no server)."""

from __future__ import annotations

import json
from xml.etree import ElementTree

import pytest
from botocore.retries.standard import RetryContext, ThrottledRetryableChecker

from shipline.sim.faults import (
    Fault,
    FaultInjector,
    FaultRules,
    OperationFaults,
    choose,
    error_answer,
    problems,
    protocol_of,
)
from shipline.sim.policy import PolicyError, parse_policy


def rules(**section):
    return FaultRules.from_document(section)


def test_no_faults_section_injects_nothing():
    injector = FaultInjector(FaultRules())
    assert not FaultRules()
    assert all(injector.for_call("ecs.DescribeServices") == (0.0, None) for _ in range(50))
    assert injector.for_health("c", "web") == (0.0, False)


def test_operation_rules_overlay_star_then_service_star_then_the_exact_name():
    faults = rules(
        operations={
            "*": {"delay_seconds": 0.1},
            "ecs.*": {"throttle": 0.2, "server_error": 0.1},
            "ecs.RunTask": {"throttle": 0.5},
        }
    )
    assert faults.for_operation("s3.GetObject") == OperationFaults(delay_seconds=0.1)
    assert faults.for_operation("ecs.DescribeServices") == OperationFaults(0.2, 0.1, 500, 0.1)
    assert faults.for_operation("ecs.RunTask") == OperationFaults(0.5, 0.1, 500, 0.1)


def test_choose_throttles_first_then_server_errors_then_nothing():
    faults = OperationFaults(throttle=0.3, server_error=0.2, server_error_status=503)
    assert choose(faults, 0.0) == Fault(400, "Throttling", "Rate exceeded")
    assert choose(faults, 0.29).code == "Throttling"
    assert choose(faults, 0.3) == Fault(503, "ServiceUnavailable", choose(faults, 0.4).message)
    assert choose(faults, 0.5) is None
    assert choose(OperationFaults(server_error=1, server_error_status=504), 0.9).code == (
        "InternalError"
    )


def test_draws_follow_the_seed_per_operation_and_hit_the_fraction():
    faults = rules(seed=7, operations={"*": {"throttle": 0.3}})

    def pattern(injector, name, n=400):
        return [injector.for_call(name)[1] is not None for _ in range(n)]

    first, again = FaultInjector(faults), FaultInjector(faults)
    # Calls of another operation in between do not change an operation's sequence.
    interleaved = []
    for _ in range(400):
        again.for_call("ecs.UpdateService")
        interleaved.append(again.for_call("ecs.DescribeServices")[1] is not None)
    assert pattern(first, "ecs.DescribeServices") == interleaved
    assert 0.2 < sum(interleaved) / len(interleaved) < 0.4
    other_seed = FaultInjector(rules(seed=8, operations={"*": {"throttle": 0.3}}))
    assert pattern(other_seed, "ecs.DescribeServices") != interleaved


def test_health_alternates_or_flaps_at_random_or_hangs():
    injector = FaultInjector(
        rules(
            seed=1,
            health={
                "web": {"flap": "alternate"},
                "api": {"flap": 0.5},
                "*": {"hang_seconds": 3},
            },
        )
    )
    assert [injector.for_health("c", "web")[1] for _ in range(4)] == [False, True, False, True]
    # Each endpoint keeps its own count.
    assert injector.for_health("other", "web") == (3, False)
    api = [injector.for_health("c", "api")[1] for _ in range(200)]
    assert 60 < sum(api) < 140
    assert injector.for_health("c", "worker") == (3, False)


@pytest.mark.parametrize(
    ("name", "headers", "form_action", "expected"),
    [
        (
            "ecs.DescribeServices",
            {"x-amz-target": "AmazonEC2ContainerServiceV20141113.X"},
            False,
            "json",
        ),
        ("elasticloadbalancing.DescribeTargetHealth", {}, True, "query"),
        ("ec2.DescribeSubnets", {}, True, "ec2"),
        ("s3.PutObject", {}, False, "s3"),
        ("lambda.GET /2015-03-31/functions", {}, False, "json"),
    ],
)
def test_protocol_of_a_call(name, headers, form_action, expected):
    assert protocol_of(name, headers, form_action) == expected


def _retry_context(code: str, status: int) -> RetryContext:
    parsed = {"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return RetryContext(attempt_number=1, parsed_response=parsed)


def test_throttling_answers_carry_a_code_botocore_treats_as_throttling():
    throttled = Fault(400, "Throttling", "Rate exceeded")
    checker = ThrottledRetryableChecker()
    json_answer = error_answer(throttled, "json")
    assert (json_answer.status, json_answer.code) == (400, "ThrottlingException")
    assert json.loads(json_answer.body)["__type"] == "ThrottlingException"
    assert ("x-amzn-ErrorType", "ThrottlingException") in json_answer.headers
    for protocol, status in (("json", 400), ("query", 400), ("ec2", 503), ("s3", 503)):
        answer = error_answer(throttled, protocol)
        assert answer.status == status
        assert checker.is_retryable(_retry_context(answer.code, answer.status)), protocol
    query = ElementTree.fromstring(error_answer(throttled, "query").body)
    assert query.tag == "ErrorResponse" and query.findtext("Error/Code") == "Throttling"
    ec2 = ElementTree.fromstring(error_answer(throttled, "ec2").body)
    assert ec2.findtext("Errors/Error/Code") == "RequestLimitExceeded"
    s3 = ElementTree.fromstring(error_answer(throttled, "s3").body)
    assert s3.tag == "Error" and s3.findtext("Code") == "SlowDown"


def test_server_errors_keep_their_status_and_are_not_throttling():
    answer = error_answer(Fault(503, "ServiceUnavailable", "m & <x>"), "query")
    assert answer.status == 503
    body = ElementTree.fromstring(answer.body)  # the message is escaped
    assert body.findtext("Error/Type") == "Receiver"
    assert body.findtext("Error/Message") == "m & <x>"
    assert not ThrottledRetryableChecker().is_retryable(_retry_context(answer.code, 503))


def test_fractions_of_one_operation_may_not_add_up_to_more_than_one():
    section = {"operations": {"ecs.RunTask": {"throttle": 0.6, "server_error": 0.5}}}
    assert problems(section) == [
        "faults.operations['ecs.RunTask']: throttle + server_error is 1.1, more than 1"
    ]
    with pytest.raises(PolicyError, match="more than 1"):
        parse_policy({"faults": section}, "policy.json")
    with pytest.raises(PolicyError, match="from 0 to 1"):
        parse_policy({"faults": {"operations": {"*": {"throttle": 1.5}}}}, "policy.json")
    with pytest.raises(PolicyError, match="alternate"):
        parse_policy({"faults": {"health": {"*": {"flap": "often"}}}}, "policy.json")
