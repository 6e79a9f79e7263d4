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


# Whether a plan changes anything is Terraform's own verdict, `applyable` (Terraform >= 1.8):
# false exactly when `terraform plan -detailed-exitcode` exits 0 (internal/terraform/
# context_plan.go: a normal plan is applyable when its changes are not empty, i.e. some resource
# action other than no-op, a move, an import or a root output change; a -refresh-only plan when
# the refresh changed the state).
NO_OP = {
    "address": "aws_vpc.main",
    "mode": "managed",
    "type": "aws_vpc",
    "change": {"actions": ["no-op"]},
}
DRIFT = {
    "address": 'aws_ecs_service.this["api"]',
    "mode": "managed",
    "type": "aws_ecs_service",
    "change": {"actions": ["update"]},
}


def plan(**fields) -> dict:
    return {"format_version": "1.2", "resource_changes": [NO_OP], **fields}


def test_a_plan_terraform_does_not_call_applyable_changes_nothing():
    analysis = tf.analyze_plan(load("no-changes.json"))
    assert analysis.has_changes is False
    assert analysis.to_dict()["has_changes"] is False
    assert tf.summary_text(analysis) == ["plan: no changes"]
    unchanged_output = {"cluster_name": {"actions": ["no-op"]}}
    assert not tf.analyze_plan(plan(applyable=False, output_changes=unchanged_output)).has_changes


def test_a_plan_that_changes_only_outputs_changes_something():
    # No resource changes, but applying it writes the new output values into the state.
    analysis = tf.analyze_plan(load("outputs-only.json"))
    assert analysis.changes == ()
    assert analysis.has_changes is True
    assert "No changes." not in tf.summary_markdown(analysis)
    assert "outputs" in tf.summary_markdown(analysis)


def test_drift_in_a_normal_plan_changes_nothing_but_a_refresh_only_plan_applies_it():
    # Terraform does not apply the drift a normal plan found (ignore_changes, e.g. the services'
    # desired_count); a -refresh-only plan exists to record it, and says applyable.
    assert tf.analyze_plan(plan(resource_drift=[DRIFT], applyable=False)).has_changes is False
    refresh_only = plan(resource_changes=[], resource_drift=[DRIFT], applyable=True)
    assert tf.analyze_plan(refresh_only).has_changes is True


def test_a_plan_without_terraforms_verdict_is_applied_as_before():
    # Terraform < 1.8 writes no `applyable`: nothing to decide on, so the plan is applied.
    assert tf.analyze_plan(plan()).has_changes is True


@pytest.mark.parametrize(
    "listed",
    [
        {"resource_changes": [DRIFT]},
        {"resource_changes": [dict(NO_OP, previous_address="aws_vpc.old")]},
        {
            "resource_changes": [
                dict(NO_OP, change={"actions": ["no-op"], "importing": {"id": "vpc-1"}})
            ]
        },
        {"resource_changes": [dict(NO_OP, mode="data", change={"actions": ["read"]})]},
        {"output_changes": {"api_url": {"actions": ["create"]}}},
    ],
)
def test_a_plan_that_says_not_applyable_but_lists_a_change_is_applied(listed):
    # Never skip what the plan itself lists: Terraform then decides (and refuses a bad plan).
    assert tf.analyze_plan(plan(applyable=False, **listed)).has_changes is True


def test_a_plan_that_errored_is_refused():
    text = json.dumps(plan(applyable=False, errored=True))
    with pytest.raises(UsageError, match="Terraform failed while planning"):
        tf.parse_plan(text, source="saved.json")


def test_no_type_that_holds_data_is_listed_as_disposable():
    table = tf.disposable_types()
    for rtype in [
        "aws_db_instance",
        "aws_rds_cluster",
        "aws_elasticache_replication_group",
        "aws_s3_bucket",
        "aws_s3_bucket_versioning",
        "aws_secretsmanager_secret",
        "aws_secretsmanager_secret_version",
        "aws_kms_key",
        "aws_cloudwatch_log_group",
        "aws_ssm_parameter",
        "aws_sqs_queue",
        "aws_cognito_user_pool",
        "aws_efs_file_system",
        "aws_ecr_repository",
        "aws_eip",
        "aws_lb",
        "aws_iam_role",
        "random_password",
    ]:
        assert rtype not in table, rtype
    assert table["aws_ecs_task_definition"]
    assert table["aws_security_group_rule"]
    assert table["aws_iam_role_policy_attachment"]


def test_a_custom_table_is_honoured():
    analysis = tf.analyze_plan(load("release.json"), disposable={})
    assert analysis.refused
    assert not tf.analyze_plan(
        load("release.json"), disposable={"aws_ecs_task_definition": "x"}
    ).refused


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


def test_disposable_table_fits_its_schema():
    document = json.loads(tf.DISPOSABLE_TABLE.read_text())
    assert schemas.problems("terraform-disposable-resources", document) == []
    assert schemas.problems("terraform-disposable-resources", {"resource_types": {"x": ""}}) != []


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


# Every delete or replace needs --allow-destroy, except for types listed as holding no data.

HOLDS_DATA = [
    'aws_cloudwatch_log_group.service["api"]',  # the containers' logs
    "aws_cloudwatch_log_group.flow_logs",  # the VPC flow logs
    "aws_ssm_parameter.feature_flags",
    "aws_sqs_queue.jobs",
    "aws_cognito_user_pool.users",
    "aws_fsx_lustre_file_system.scratch",
]


def test_replacing_or_deleting_any_type_that_holds_data_is_refused():
    analysis = tf.analyze_plan(load("data-replace.json"))
    assert analysis.refused
    assert [change.address for change in analysis.blocked] == HOLDS_DATA
    assert all(change.stateful for change in analysis.blocked)
    assert tf.analyze_plan(load("data-replace.json"), allow_destroy=HOLDS_DATA).refused is False


@pytest.mark.parametrize(
    "rtype",
    [
        "aws_cloudwatch_log_group",
        "aws_ssm_parameter",
        "aws_sqs_queue",
        "aws_cognito_user_pool",
        "aws_fsx_lustre_file_system",
        "aws_fsx_openzfs_file_system",
        "aws_a_type_invented_next_year",
    ],
)
@pytest.mark.parametrize("actions", [["delete", "create"], ["create", "delete"], ["delete"]])
def test_a_type_not_listed_as_holding_no_data_is_guarded(rtype, actions):
    plan = {
        "format_version": "1.2",
        "resource_changes": [
            {
                "address": f"{rtype}.x",
                "mode": "managed",
                "type": rtype,
                "change": {"actions": actions},
            }
        ],
    }
    analysis = tf.analyze_plan(plan)
    assert [change.address for change in analysis.blocked] == [f"{rtype}.x"]
    assert not tf.analyze_plan(plan, allow_destroy=[f"{rtype}.x"]).refused


def test_types_listed_as_holding_no_data_are_replaced_freely():
    analysis = tf.analyze_plan(load("data-replace.json"))
    passed = [c.address for c in analysis.changes if c not in analysis.blocked]
    assert passed == [
        'aws_ecs_task_definition.this["api"]',
        "aws_vpc_security_group_ingress_rule.api",
        'aws_ecs_service.this["api"]',
    ]


@pytest.mark.parametrize("rtype", ["aws_cloudwatch_log_group", "aws_sqs_queue", "aws_db_instance"])
def test_updating_in_place_is_never_refused(rtype):
    plan = {
        "format_version": "1.2",
        "resource_changes": [
            {
                "address": f"{rtype}.x",
                "mode": "managed",
                "type": rtype,
                "change": {"actions": ["update"]},
            }
        ],
    }
    assert not tf.analyze_plan(plan).refused
