"""Documented rule: every AWS call a release makes is allowed by the role the workflow gives it.

The sandbox counts the API calls it answers (`GET /_sim/calls`, docs/sandbox.md). A deploy (tags
pinned to digests, preflight, migration with its log, rollout, health, an automatic rollback), a
deploy that continues a release session and its clean-up, a rollback and an emergency stop run
here; each call is turned into the IAM actions AWS documents for it (the Service Authorization
Reference, below) and must be granted by the deploy role's policy as ops/infra/aws writes it.
The session's start (`lock acquire`) and `images running` run in the Terraform job: the infra
role must grant theirs. No IAM engine runs here: the policy's actions are matched as IAM matches
action names (case-insensitive, `*` and `?` wildcards); resource scoping is tested in
tests/infra/test_github_roles.py.
"""

from __future__ import annotations

import fnmatch

from support.deploy_support import records, run_cli, write_config
from support.infra import infra_rules

TF = infra_rules.load(infra_rules.BLUEPRINT)

# The IAM actions an API operation needs beyond `service:Operation`, where AWS documents
# another name or more (Service Authorization Reference; S3 "Policy actions"; SSE-KMS: a
# PutObject needs kms:GenerateDataKey and a GetObject kms:Decrypt on the bucket's key, which
# the blueprint's history bucket uses; RegisterTaskDefinition with roles needs iam:PassRole,
# with tags ecs:TagResource).
DOCUMENTED = {
    "s3.ListObjectsV2": {"s3:ListBucket"},
    "s3.ListObjects": {"s3:ListBucket"},
    "s3.HeadObject": {"s3:GetObject", "kms:Decrypt"},
    "s3.GetObject": {"s3:GetObject", "kms:Decrypt"},
    "s3.PutObject": {"s3:PutObject", "kms:GenerateDataKey"},
    "s3.DeleteObject": {"s3:DeleteObject"},
    "ecs.RegisterTaskDefinition": {
        "ecs:RegisterTaskDefinition",
        "iam:PassRole",
        "ecs:TagResource",
    },
}
# The SigV4 service of a call and its IAM prefix differ for these.
PREFIXES = {"monitoring": "cloudwatch"}


def iam_actions(call: str) -> set[str]:
    if call in DOCUMENTED:
        return DOCUMENTED[call]
    service, operation = call.split(".", 1)
    return {f"{PREFIXES.get(service, service)}:{operation}"}


def allowed_actions(document: str) -> set[str]:
    body = TF.data[("aws_iam_policy_document", document)]
    statements = list(body.get("statement", []))
    for dynamic in body.get("dynamic", []):
        statements += dynamic.get("statement", {}).get("content", [])
    return {
        action
        for statement in statements
        if statement.get("effect", "Allow") == "Allow"
        for action in statement.get("actions", [])
    }


def denied_by_policy(calls: dict[str, int], document: str) -> dict[str, set[str]]:
    """The calls with an IAM action the policy does not allow, and those actions."""
    granted = {action.lower() for action in allowed_actions(document)}
    missing = {}
    for call in calls:
        needed = {
            action
            for action in iam_actions(call)
            if not any(fnmatch.fnmatchcase(action.lower(), pattern) for pattern in granted)
        }
        if needed:
            missing[call] = needed
    return missing


def cli(capsys, config, *argv):
    ran = run_cli(capsys, *argv, "--config", str(config))
    return ran


def test_the_deploy_role_allows_every_call_of_a_deploy_and_a_rollback(
    capsys, sandbox, environment, tmp_path
):
    config = write_config(
        tmp_path,
        environment,
        health={"timeout": 0.5, "interval": 0.1, "successes": 2, "request_timeout": 1},
    )
    s3 = sandbox.client("s3")
    release_calls: dict[str, int] = {}
    infra_calls: dict[str, int] = {}

    def collect(into: dict[str, int]) -> None:
        for call, count in sandbox.calls().items():
            into[call] = into.get(call, 0) + count
        sandbox.reset_calls()

    # Pushed now: the pushes are the build's calls, not the release's.
    pushed = {
        tag: {k: environment.image(k, tag) for k in ("api", "web")}
        for tag in ("v2", "v3", "v4", "v5")
    }

    def image_args(tag: str) -> list[str]:
        return [a for k, ref in pushed[tag].items() for a in ("--image", f"{k}={ref}")]

    tasks = {"*": {"run_seconds": 0.2, "logs": ["migrated 3 tables"]}}
    sandbox.policy({"services": {"*": {"converge_seconds": 0.2}}, "tasks": tasks})
    sandbox.reset_calls()
    # A deploy by tags (pinned in ECR), with the preflight's secret checks and the migration.
    ran = cli(capsys, config, "deploy", "-e", "sim", *image_args("v2"))
    assert ran.code == 0, ran.err
    # A deploy whose web app is unhealthy: shipline rolls every service back.
    unhealthy = {"converge_seconds": 0.2, "unhealthy": "web:v3"}
    sandbox.policy({"services": {"*": unhealthy}, "tasks": tasks})
    ran = cli(capsys, config, "deploy", "-e", "sim", *image_args("v3"))
    assert ran.code == 1, ran.err
    # A deploy whose migration fails: its log's tail is read, no service moves.
    failing = {**tasks, environment.families["api"]: {"exit_code": 1, "logs": ["no such table"]}}
    sandbox.policy({"services": {"*": {"converge_seconds": 0.2}}, "tasks": failing})
    ran = cli(capsys, config, "deploy", "-e", "sim", *image_args("v5"))
    assert ran.code == 1, ran.err
    assert "no such table" in ran.err
    sandbox.policy({"services": {"*": {"converge_seconds": 0.2}}, "tasks": tasks})
    collect(release_calls)

    # The Terraform job: the session starts, and the images that run now are read.
    ran = cli(capsys, config, "lock", "acquire", "-e", "sim", "--json")
    assert ran.code == 0, ran.err
    release_id = ran.json()["release_id"]
    ran = cli(capsys, config, "images", "running", "-e", "sim")
    assert ran.code == 0, ran.err
    collect(infra_calls)

    # The deploy job continues the session, then its clean-up runs.
    ran = cli(capsys, config, "deploy", "-e", "sim", *image_args("v4"), "--release-id", release_id)
    assert ran.code == 0, ran.err
    ran = cli(capsys, config, "lock", "release", "-e", "sim", "--release-id", release_id,
              "--finish-record")  # fmt: skip
    assert ran.code == 0, ran.err
    # rollback.yml: back to the previous release, then the emergency stop.
    ran = cli(capsys, config, "rollback", "-e", "sim")
    assert ran.code == 0, ran.err
    ran = cli(capsys, config, "rollback", "-e", "sim", "--scale-to-zero")
    assert ran.code == 0, ran.err
    collect(release_calls)

    kinds = [(r["kind"], r["status"]) for r in records(environment, s3)]
    assert kinds.count(("deploy", "succeeded")) == 2 and ("deploy", "rolled_back") in kinds
    assert ("deploy", "failed") in kinds
    # The runs made the calls this test is about (else it would prove nothing).
    for call in (
        "ecs.RunTask",
        "logs.GetLogEvents",
        "ecr.DescribeImages",
        "s3.DeleteObject",
        "secretsmanager.DescribeSecret",
        "ecs.UpdateService",
    ):
        assert call in release_calls, sorted(release_calls)  # fmt: skip
    assert denied_by_policy(release_calls, "github_deploy") == {}
    assert denied_by_policy(infra_calls, "github_infra") == {}


def test_the_check_finds_a_call_the_policy_does_not_allow():
    # The same check on a call no release makes and the deploy role must not grant.
    assert denied_by_policy({"ec2.DescribeAvailabilityZones": 1}, "github_deploy") == {
        "ec2.DescribeAvailabilityZones": {"ec2:DescribeAvailabilityZones"}
    }
    assert denied_by_policy({"s3.PutObject": 1}, "github_deploy") == {}
    assert denied_by_policy({"iam.PutRolePolicy": 1}, "github_deploy") != {}
