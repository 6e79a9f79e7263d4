"""Provider-schema gate: every argument and block of the blueprint exists in hashicorp/aws 5.100.0.

`terraform validate` runs only in GitHub-hosted CI (it downloads the provider). This gate reads
the same schema offline (provider_schema.py; the index is built by `make provider-schema`), so
a misspelt argument or block, or a missing required argument, fails `make test` here too.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from support.infra import infra_rules as rules
from support.infra import provider_schema

NEGATIVE = Path(__file__).resolve().parent / "fixtures" / "schema_violations"


@pytest.fixture(scope="session")
def index() -> dict:
    if not provider_schema.INDEX.is_file():
        pytest.fail(
            f"{provider_schema.INDEX} is missing: run `make provider-schema` (downloads the "
            f"cdktf-cdktf-provider-aws=={provider_schema.CDKTF_PACKAGE_VERSION} wheel once)"
        )
    return provider_schema.load_index()


def test_versions_tf_pins_a_provider_range_holding_the_schema_version():
    # "~> 5.100" allows 5.100.x .. 5.x: the gate's 5.100.0 is inside it, and no 6.x.
    text = rules.BLUEPRINT.joinpath("versions.tf").read_text()
    aws = re.search(r'aws\s*=\s*\{[^}]*version\s*=\s*"~>\s*(\d+)\.(\d+)"', text, re.DOTALL)
    assert aws is not None
    major, minor = (int(part) for part in aws.groups())
    schema_major, schema_minor, _ = (int(p) for p in provider_schema.PROVIDER_VERSION.split("."))
    assert (major, minor) == (schema_major, schema_minor)


def test_index_reads_the_provider_schema(index):
    listener = index["resource"]["aws_lb_listener"]
    assert "load_balancer_arn" in listener["required"]
    assert "default_action" in listener["blocks"]
    assert "type" in listener["blocks"]["default_action"]["required"]
    statement = index["data"]["aws_iam_policy_document"]["blocks"]["statement"]
    assert {"principals", "condition"} <= set(statement["blocks"])
    assert index["data"]["aws_iam_openid_connect_provider"]["arguments"]


def test_blueprint_matches_the_provider_schema(index):
    tf = rules.load(rules.BLUEPRINT)
    assert provider_schema.problems(index, tf.resources, tf.data) == []


def test_negative_fixture_fails_the_gate_for_each_reason(index):
    tf = rules.load(NEGATIVE)
    assert sorted(provider_schema.problems(index, tf.resources, tf.data)) == sorted(
        [
            "aws_ecs_service.unknown_argument: unknown argument or block `desired_countt`",
            "aws_lb_target_group.misspelled_block: unknown argument or block `health_checks`",
            "aws_lb_listener.missing_required: required `load_balancer_arn` is missing",
            "aws_lb.nested_unknown.access_logs: unknown argument or block `enabeld`",
            "data.aws_iam_policy_document.dynamic_misspelled: unknown block `statment` (dynamic)",
            "data.aws_iam_policy_document.dynamic_misspelled.statement.principals: "
            "required `identifiers` is missing",
            "aws_no_such_thing.unknown_type: no resource type aws_no_such_thing in aws 5.100.0",
        ]
    )
