"""Plan analysis: counts, stateful deletes/replacements refused unless allowed (pure)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shipline import schemas
from shipline import terraform as tf
from shipline.errors import UsageError

PLANS = Path(__file__).resolve().parents[1] / "infra" / "fixtures" / "plans"


def load(name: str) -> dict:
    return tf.parse_plan((PLANS / name).read_text(), source=name)


@pytest.mark.parametrize(
    ("actions", "kind"),
    [
        (["no-op"], "no-op"),
        (["read"], "read"),
        (["create"], "create"),
        (["update"], "update"),
        (["delete"], "delete"),
        (["delete", "create"], "replace"),
        (["create", "delete"], "replace"),
        (["forget"], "forget"),
        (["create", "forget"], "replace-forget"),
    ],
)
def test_action_kind(actions, kind):
    assert tf.action_kind(actions) == kind


def test_unknown_actions_are_refused():
    with pytest.raises(UsageError, match="unknown Terraform change actions"):
        tf.action_kind(["delete", "explode"])


def test_release_plan_is_allowed_and_counted():
    analysis = tf.analyze_plan(load("release.json"))
    assert not analysis.refused
    assert analysis.counts == {"add": 0, "change": 1, "destroy": 0, "replace": 2, "forget": 0}
    # no-op and data-source reads are not changes
    assert [c.address for c in analysis.changes] == [
        'aws_ecs_task_definition.this["api"]',
        'aws_ecs_task_definition.this["web"]',
        'aws_ecs_service.this["api"]',
    ]
    assert analysis.changes[0].replace_paths == ("container_definitions",)


def test_replacing_the_database_or_a_bucket_is_refused():
    analysis = tf.analyze_plan(load("stateful-replace.json"))
    assert analysis.refused
    assert [c.address for c in analysis.blocked] == [
        "aws_db_instance.main",
        'aws_s3_bucket.this["storage"]',
    ]
    reason = analysis.refusal()
    assert "\n" not in reason
    assert "aws_db_instance.main (replace)" in reason
    assert 'aws_s3_bucket.this["storage"] (replace)' in reason
    assert "--allow-destroy" in reason


def test_allow_destroy_must_name_every_stateful_address():
    plan = load("stateful-replace.json")
    partly = tf.analyze_plan(plan, allow_destroy=["aws_db_instance.main"])
    assert partly.refused
    assert [c.address for c in partly.blocked] == ['aws_s3_bucket.this["storage"]']
    assert [c.address for c in partly.allowed] == ["aws_db_instance.main"]

    fully = tf.analyze_plan(
        plan, allow_destroy=["aws_db_instance.main", 'aws_s3_bucket.this["storage"]']
    )
    assert not fully.refused
    assert len(fully.allowed) == 2


def test_allow_destroy_matches_exact_addresses_only():
    analysis = tf.analyze_plan(load("stateful-replace.json"), allow_destroy=["aws_db_instance"])
    assert analysis.refused
    assert analysis.unused_allows == ("aws_db_instance",)


def test_deletes_in_modules_of_keys_secrets_and_deposed_objects_are_refused():
    analysis = tf.analyze_plan(load("stateful-delete.json"))
    blocked = [c.address for c in analysis.blocked]
    assert blocked == [
        "module.cache.aws_elasticache_replication_group.main",
        "aws_secretsmanager_secret.redis_auth_token[0]",
        "aws_kms_key.main",
        "aws_secretsmanager_secret.registry[0] (deposed 00000001)",
    ]
    # a NAT gateway is not stateful: its delete passes
    assert "aws_nat_gateway.main[1]" not in blocked
    assert analysis.counts["destroy"] == 5


def test_deposed_object_is_allowed_by_its_address():
    allow = [
        "module.cache.aws_elasticache_replication_group.main",
        "aws_secretsmanager_secret.redis_auth_token[0]",
        "aws_kms_key.main",
        "aws_secretsmanager_secret.registry[0]",
    ]
    assert not tf.analyze_plan(load("stateful-delete.json"), allow_destroy=allow).refused


def test_creating_stateful_resources_and_forgetting_them_is_allowed():
    analysis = tf.analyze_plan(load("create.json"))
    assert not analysis.refused
    assert analysis.counts == {"add": 4, "change": 0, "destroy": 0, "replace": 0, "forget": 1}


def test_no_changes():
    analysis = tf.analyze_plan(load("no-changes.json"))
    assert analysis.changes == ()
    assert analysis.headline() == "0 to add, 0 to change, 0 to destroy, 0 to replace"
    assert "No changes." in tf.summary_markdown(analysis)


def test_stateful_table_names_the_guarded_types():
    table = tf.stateful_types()
    for rtype in [
        "aws_db_instance",
        "aws_rds_cluster",
        "aws_elasticache_replication_group",
        "aws_elasticache_cluster",
        "aws_s3_bucket",
        "aws_secretsmanager_secret",
        "aws_kms_key",
    ]:
        assert table[rtype], rtype
    assert "aws_ecs_task_definition" not in table


def test_a_custom_table_is_honoured():
    analysis = tf.analyze_plan(load("release.json"), stateful={"aws_ecs_task_definition": "x"})
    assert analysis.refused


def test_summary_markdown_marks_refusal_and_stateful_rows():
    analysis = tf.analyze_plan(load("stateful-replace.json"))
    markdown = tf.summary_markdown(analysis, title="production")
    assert markdown.startswith("### production\n")
    assert "**0 to add, 1 to change, 0 to destroy, 3 to replace**" in markdown
    assert "Refused" in markdown
    assert (
        "| `-/+` | `aws_db_instance.main` | replace | **stateful**; forced by `identifier` |"
        in markdown
    )


def test_to_dict_is_json_ready():
    analysis = tf.analyze_plan(
        load("stateful-replace.json"), allow_destroy=["aws_db_instance.main"]
    )
    data = json.loads(json.dumps(analysis.to_dict()))
    assert data["refused"] is True
    assert data["blocked"] == ['aws_s3_bucket.this["storage"]']
    assert data["allowed_destroys"] == ["aws_db_instance.main"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "not JSON"),
        ("[]", "no format_version"),
        ('{"format_version": "2.0", "resource_changes": []}', "not supported"),
        ('{"format_version": "1.2", "resource_changes": {}}', "not a list"),
    ],
)
def test_bad_plan_documents_are_usage_errors(text, message):
    with pytest.raises(UsageError, match=message):
        tf.parse_plan(text)


def test_a_plan_without_resource_changes_has_no_changes():
    assert tf.analyze_plan(tf.parse_plan('{"format_version": "1.2"}')).changes == ()


def test_stateful_table_fits_its_schema():
    document = json.loads(tf.STATEFUL_TABLE.read_text())
    assert schemas.problems("terraform-stateful-resources", document) == []
    assert schemas.problems("terraform-stateful-resources", {"resource_types": {"x": ""}}) != []


def test_replacing_while_keeping_the_old_object_loses_nothing():
    plan = {
        "format_version": "1.2",
        "resource_changes": [
            {
                "address": "aws_s3_bucket.legacy",
                "mode": "managed",
                "type": "aws_s3_bucket",
                "name": "legacy",
                "change": {"actions": ["create", "forget"]},
            }
        ],
    }
    analysis = tf.analyze_plan(plan)
    assert not analysis.refused
    assert analysis.counts["replace"] == 1
