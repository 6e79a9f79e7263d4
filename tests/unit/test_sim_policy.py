"""The sandbox policy: validation, "*" merging, matching, reloading (no server)."""

from __future__ import annotations

import json

import pytest

from shipline.sim.policy import (
    Policy,
    PolicyError,
    PolicyFile,
    ServiceRules,
    TaskRules,
    load_policy,
    matches,
    parse_policy,
)

CONTRACT_EXAMPLE = {
    "services": {
        "*": {"converge_seconds": 1.0},
        "agent-saas-web": {"fail": "web:v3", "unhealthy": "web:v4"},
    },
    "tasks": {
        "*": {"exit_code": 0, "run_seconds": 0.5, "logs": ["migrated 3 tables"]},
        "agent-saas-api": {"exit_code": 1, "reason": "migration failed"},
    },
}


def test_the_contract_example_is_valid_and_merges_field_by_field():
    policy = parse_policy(CONTRACT_EXAMPLE, "policy.json")
    assert policy.for_service("agent-saas-web") == ServiceRules(1.0, "web:v3", "web:v4")
    assert policy.for_service("agent-saas-api") == ServiceRules(1.0, False, False)
    assert policy.for_task("agent-saas-api") == TaskRules(
        1, 0.5, ("migrated 3 tables",), "migration failed"
    )
    assert policy.for_task("other") == TaskRules(0, 0.5, ("migrated 3 tables",), None)


def test_defaults_apply_without_a_policy():
    assert Policy().for_service("any") == ServiceRules(
        converge_seconds=1.0, fail=False, unhealthy=False
    )
    assert Policy().for_task("any") == TaskRules(exit_code=0, run_seconds=0.5, logs=(), reason=None)


def test_a_specific_false_overrides_a_wildcard_true():
    policy = parse_policy({"services": {"*": {"fail": True}, "api": {"fail": False}}}, "p")
    assert policy.for_service("api").fail is False
    assert policy.for_service("web").fail is True


@pytest.mark.parametrize(
    ("rule", "images", "expected"),
    [
        (True, [], True),
        (False, ["web:v3"], False),
        ("web:v3", ["registry/agent-saas/web:v3"], True),
        ("web:v3", ["registry/agent-saas/web:v2", "sidecar:v3"], False),
        ("v4", ["api:v1", "web:v4"], True),
    ],
)
def test_matches(rule, images, expected):
    assert matches(rule, images) is expected


@pytest.mark.parametrize(
    ("document", "mentions"),
    [
        ({"services": {"*": {"converge_seconds": -1}}}, "converge_seconds"),
        ({"services": {"api": {"fail": ""}}}, "services.api.fail"),
        ({"services": {"api": {"fail": 3}}}, "services.api.fail"),
        ({"services": {"api": {"stale_reads": -1}}}, "services.api.stale_reads"),
        ({"services": {"api": {"stale_reads": 1.5}}}, "services.api.stale_reads"),
        ({"tasks": {"*": {"exit_code": 256}}}, "exit_code"),
        ({"tasks": {"*": {"logs": "one line"}}}, "logs: expected a list"),
        ({"tasks": {"*": {"unknown": 1}}}, "unknown"),
        ({"service": {}}, "service"),
        ([], "(top level): expected an object"),
    ],
)
def test_invalid_documents_are_refused_in_one_line(document, mentions):
    with pytest.raises(PolicyError) as caught:
        parse_policy(document, "policy.json")
    message = caught.value.message
    assert "\n" not in message
    assert message.startswith("policy.json: invalid sim policy: ")
    assert mentions in message
    assert caught.value.exit_code == 2


def test_faults_section_is_validated_and_loaded_without_a_warning(tmp_path):
    path = tmp_path / "policy.json"
    document = {"faults": {"seed": 4, "operations": {"ecs.DescribeServices": {"throttle": 0.3}}}}
    path.write_text(json.dumps(document))
    logged: list[str] = []
    policy = PolicyFile(path, logged.append).current()
    assert logged == []
    assert policy.faults.seed == 4
    assert policy.faults.for_operation("ecs.DescribeServices").throttle == 0.3
    path.write_text(json.dumps({"faults": {"ecs.DescribeServices": {"throttle": 2}}}))
    with pytest.raises(PolicyError, match="faults"):
        load_policy(path)


def test_load_policy_reports_unreadable_and_non_json_files(tmp_path):
    with pytest.raises(PolicyError, match="cannot read"):
        load_policy(tmp_path / "absent.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    with pytest.raises(PolicyError, match="not JSON"):
        load_policy(broken)


def test_policy_file_rereads_changes_and_keeps_the_last_good_one(tmp_path):
    path = tmp_path / "policy.json"
    path.write_text(json.dumps({"services": {"*": {"converge_seconds": 2}}}))
    logged: list[str] = []
    watched = PolicyFile(path, logged.append)
    assert watched.current().for_service("api").converge_seconds == 2

    path.write_text(json.dumps({"services": {"*": {"converge_seconds": 3.5}}}))
    assert watched.current().for_service("api").converge_seconds == 3.5

    path.write_text(json.dumps({"services": {"*": {"converge_seconds": "x"}}}))
    assert watched.current().for_service("api").converge_seconds == 3.5
    assert watched.current().for_service("api").converge_seconds == 3.5  # logged once
    assert len(logged) == 1 and "keeping the last good policy" in logged[0]

    path.unlink()
    assert watched.current().for_service("api").converge_seconds == 3.5
    assert len(logged) == 2


def test_policy_file_refuses_an_invalid_file_at_start(tmp_path):
    path = tmp_path / "policy.json"
    path.write_text(json.dumps({"tasks": {"*": {"run_seconds": -1}}}))
    with pytest.raises(PolicyError, match="run_seconds"):
        PolicyFile(path, print)
