"""actions/build-push: its own steps run as GitHub runs them (tests/support/actions/runner.py).

The third-party steps (logins, Buildx, metadata, build-push) are not executed; the runner
lists which of them the action would run, so each registry kind is checked for logging in the
way it needs and no other. The ECR reuse step runs `shipline images retag` for real, against
the sandbox.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from support.actions.runner import run_action

ROOT = Path(__file__).resolve().parents[2]
ACTION = ROOT / "actions" / "build-push"
ECR_HOST = "123456789012.dkr.ecr.us-east-1.amazonaws.com"

CONFIGURE_AWS = "aws-actions/configure-aws-credentials"
ECR_LOGIN = "aws-actions/amazon-ecr-login"
DOCKER_LOGIN = "docker/login-action"
BUILD = "docker/build-push-action"
METADATA = "docker/metadata-action"
BUILDX = "docker/setup-buildx-action"
QEMU = "docker/setup-qemu-action"


def job_env() -> dict[str, str]:
    """The job's environment, with this venv's `shipline` on PATH (setup-shipline's doing);
    under the `sandbox` fixture it points AWS at the sandbox."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("GITHUB_")}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def run(inputs: dict[str, str], env: dict[str, str] | None = None):
    return run_action(ACTION, inputs, env=env or job_env(), workspace=ROOT)


def would_run(result) -> list[str]:
    return [uses.split("@")[0] for uses in result.skipped_uses]


def errors(result) -> list[str]:
    return [message for level, message in result.annotations if level == "error"]


GHCR = {
    "kind": "ghcr",
    "registry": "ghcr.io",
    "repository": "ghcr.io/acme/shop/api",
    "name": "api",
    "context": "examples/starter/api",
    "username": "octocat",
    "github-token": "not-a-real-token",
}


def test_ghcr_logs_in_with_the_github_token_and_never_touches_aws():
    result = run(GHCR)
    check = result.step("check")
    assert check.exit_code == 0, result.log
    assert check.outputs["dockerfile"] == "examples/starter/api/Dockerfile"
    assert would_run(result) == [DOCKER_LOGIN, METADATA, BUILDX, BUILD]
    assert result.step("reuse").skipped == "condition false"
    # Nothing was built here, so there is no digest: the action fails rather than output "@".
    assert result.exit_code == 1
    assert "the build reported no digest for ghcr.io/acme/shop/api" in errors(result)


def test_other_platforms_add_qemu():
    result = run(GHCR | {"platforms": "linux/amd64,linux/arm64"})
    assert would_run(result) == [DOCKER_LOGIN, METADATA, QEMU, BUILDX, BUILD]


def test_ghcr_without_a_token_or_user_fails_before_any_login():
    result = run(GHCR | {"github-token": ""})
    assert result.exit_code == 1
    assert errors(result) == [
        "GHCR needs github-token (the job's GITHUB_TOKEN with packages: write)"
    ]
    assert would_run(result) == []
    result = run(GHCR | {"username": ""})
    assert errors(result) == ["GHCR needs username (the workflow's github.actor)"]


def test_unknown_kinds_foreign_repositories_and_missing_contexts_are_refused():
    assert errors(run(GHCR | {"kind": "quay"})) == ["kind must be ecr, ghcr or other, not 'quay'"]
    assert errors(run(GHCR | {"repository": "docker.io/acme/api"})) == [
        "repository docker.io/acme/api is not in registry ghcr.io"
    ]
    assert errors(run(GHCR | {"context": "no/such/dir"})) == [
        "build context no/such/dir is not a directory (is the repository checked out?)"
    ]


ECR = {
    "kind": "ecr",
    "registry": ECR_HOST,
    "repository": f"{ECR_HOST}/agent-saas/api",
    "name": "api",
    "context": "examples/starter/api",
    "dockerfile": "examples/starter/api/Dockerfile",
    "aws-region": "us-east-1",
    "aws-account": "123456789012",
}


def test_ecr_needs_credentials_and_a_region():
    result = run(ECR)
    assert errors(result) == [
        "ECR needs AWS credentials: aws-role-arn (OIDC) or aws-access-key-id and "
        "aws-secret-access-key"
    ]
    assert would_run(result) == []
    result = run(ECR | {"aws-region": "", "aws-role-arn": "arn:aws:iam::123456789012:role/x"})
    assert errors(result) == ["aws-region is required for ECR"]


def test_ecr_prefers_the_oidc_role(sandbox):
    result = run(ECR | {"aws-role-arn": "arn:aws:iam::123456789012:role/push"}, job_env())
    assert result.step("check").outputs == {
        "aws": "oidc",
        "dockerfile": "examples/starter/api/Dockerfile",
    }
    assert would_run(result)[:2] == [CONFIGURE_AWS, ECR_LOGIN]
    assert DOCKER_LOGIN not in would_run(result)


def test_ecr_with_access_keys_warns_and_builds_a_commit_it_has_not_seen(sandbox):
    result = run(
        ECR | {"aws-access-key-id": "AKIAEXAMPLE", "aws-secret-access-key": "secret"},
        job_env(),
    )
    assert ("warning", "no aws-role-arn: using long-lived access keys (prefer an OIDC role)") in (
        result.annotations
    )
    assert would_run(result) == [CONFIGURE_AWS, ECR_LOGIN, METADATA, BUILDX, BUILD]
    # metadata-action did not run here, so there are no tags: nothing to reuse, build it.
    reuse = result.step("reuse")
    assert reuse.exit_code == 0, reuse.log
    assert reuse.outputs["found"] == "false"
