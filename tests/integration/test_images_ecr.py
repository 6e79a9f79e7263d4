"""`shipline images ensure-repos` and ECR `resolve` against the `shipline sim` sandbox."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from shipline.cli import main
from shipline.images.repositories import RepositorySettings

ROOT = Path(__file__).resolve().parents[2]
STARTER = str(ROOT / "examples" / "starter" / "shipline.yml")
ACCOUNT = "123456789012"  # moto's account
ECR_HOST = f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com"
MANIFEST_TYPE = "application/vnd.docker.distribution.manifest.v2+json"


def run(capsys, *args: str) -> tuple[int, dict | None, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, json.loads(captured.out) if captured.out.strip() else None, captured.err


def ensure(capsys, *extra: str) -> tuple[int, dict | None, str]:
    return run(
        capsys,
        "images",
        "ensure-repos",
        "--config",
        STARTER,
        "--registry",
        ECR_HOST,
        "--image-prefix",
        "Agent-SaaS",
        "--json",
        *extra,
    )


def put_image(ecr, repository: str, tag: str, content: str) -> str:
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST_TYPE,
            "config": {"mediaType": "x", "digest": "sha256:" + "1" * 64, "size": 1},
            "layers": [{"mediaType": "y", "digest": "sha256:" + content * 64, "size": 1}],
        }
    )
    digest = "sha256:" + hashlib.sha256(manifest.encode()).hexdigest()
    ecr.put_image(
        repositoryName=repository,
        imageManifest=manifest,
        imageManifestMediaType=MANIFEST_TYPE,
        imageTag=tag,
        imageDigest=digest,
    )
    return digest


@pytest.fixture
def ecr(sandbox):
    return sandbox.client("ecr")


def test_missing_repositories_are_created_with_shipline_settings(capsys, ecr):
    code, result, err = ensure(capsys, "--keep-tagged", "25", "--untagged-days", "3")
    assert code == 0, err
    assert [(repo["name"], repo["action"]) for repo in result["repositories"]] == [
        ("agent-saas/api", "create"),
        ("agent-saas/web", "create"),
    ]
    assert result["repositories"][0]["uri"] == f"{ECR_HOST}/agent-saas/api"
    for name in ("agent-saas/api", "agent-saas/web"):
        repository = ecr.describe_repositories(repositoryNames=[name])["repositories"][0]
        assert repository["imageTagMutability"] == "IMMUTABLE"
        assert repository["imageScanningConfiguration"] == {"scanOnPush": True}
        assert repository["encryptionConfiguration"]["encryptionType"] == "AES256"
        policy = json.loads(ecr.get_lifecycle_policy(repositoryName=name)["lifecyclePolicyText"])
        assert policy == RepositorySettings(keep_tagged=25, untagged_days=3).lifecycle_policy()
    assert "agent-saas/api: created" in err


def test_a_second_run_changes_nothing_and_reports_no_drift(capsys, ecr):
    assert ensure(capsys)[0] == 0
    code, result, err = ensure(capsys)
    assert code == 0
    assert [(repo["action"], repo["drift"]) for repo in result["repositories"]] == [
        ("exists", []),
        ("exists", []),
    ]
    assert "exists, as shipline would set it up" in err


def test_existing_repositories_are_left_alone_with_their_drift_reported(capsys, ecr):
    ecr.create_repository(
        repositoryName="agent-saas/api",
        imageTagMutability="MUTABLE",
        imageScanningConfiguration={"scanOnPush": False},
    )
    code, result, err = ensure(capsys)
    assert code == 0, err
    api, web = result["repositories"]
    assert api["action"] == "exists"
    assert api["drift"] == [
        "tag mutability is MUTABLE, expected IMMUTABLE",
        "scan on push is off, expected on",
        "no lifecycle policy",
    ]
    assert web["action"] == "create"
    # Left alone: still mutable, still no lifecycle policy.
    repository = ecr.describe_repositories(repositoryNames=["agent-saas/api"])["repositories"][0]
    assert repository["imageTagMutability"] == "MUTABLE"
    with pytest.raises(ecr.exceptions.LifecyclePolicyNotFoundException):
        ecr.get_lifecycle_policy(repositoryName="agent-saas/api")
    assert "agent-saas/api: exists, left alone; drift: tag mutability is MUTABLE" in err


def test_dry_run_creates_nothing(capsys, ecr):
    code, result, err = ensure(capsys, "--dry-run")
    assert code == 0
    assert result["dry_run"] is True
    assert [repo["action"] for repo in result["repositories"]] == ["create", "create"]
    assert ecr.describe_repositories()["repositories"] == []
    assert "agent-saas/api: would create" in err


def test_another_accounts_registry_is_refused(capsys, ecr):
    code, _, err = run(
        capsys,
        "images",
        "ensure-repos",
        "--config",
        STARTER,
        "--registry",
        "210987654321.dkr.ecr.us-east-1.amazonaws.com",
        "--image-prefix",
        "agent-saas",
    )
    assert code == 2
    assert "credentials are for account 123456789012" in err
    assert "belongs to account 210987654321" in err
    assert ecr.describe_repositories()["repositories"] == []


def test_ensure_repos_is_for_ecr_only(capsys, sandbox):
    code, _, err = run(
        capsys,
        "images",
        "ensure-repos",
        "--config",
        STARTER,
        "--registry",
        "ghcr.io",
        "--image-prefix",
        "acme/shop",
    )
    assert code == 2
    assert "ghcr.io is not an ECR registry" in err


def test_ecr_tags_resolve_through_describe_images(capsys, ecr):
    assert ensure(capsys)[0] == 0
    api_digest = put_image(ecr, "agent-saas/api", "sha-1a2b3c4", "a")
    web_digest = put_image(ecr, "agent-saas/web", "v1.4.0", "b")
    code, result, err = run(
        capsys,
        "images",
        "resolve",
        "--json",
        f"api={ECR_HOST}/agent-saas/api:sha-1a2b3c4",
        f"web={ECR_HOST}/agent-saas/web@{web_digest}",
    )
    assert code == 0, err
    assert result["images"]["api"]["image"] == f"{ECR_HOST}/agent-saas/api@{api_digest}"
    assert result["images"]["api"]["kind"] == "ecr"
    assert result["images"]["web"]["digest"] == web_digest


def test_missing_ecr_images_are_exit_2_naming_them(capsys, ecr):
    assert ensure(capsys)[0] == 0
    put_image(ecr, "agent-saas/api", "v1.0.0", "c")
    code, result, err = run(
        capsys,
        "images",
        "resolve",
        f"api={ECR_HOST}/agent-saas/api:v2.0.0",
        f"worker={ECR_HOST}/agent-saas/worker:v1.0.0",
    )
    assert code == 2
    assert result is None
    assert f"api: {ECR_HOST}/agent-saas/api:v2.0.0: no such image in ECR" in err
    assert (
        f"worker: {ECR_HOST}/agent-saas/worker:v1.0.0: ECR repository 'agent-saas/worker' "
        "does not exist" in err
    )


def retag(capsys, *args: str) -> tuple[int, dict | None, str]:
    return run(capsys, "images", "retag", "--json", *args)


def test_retag_adds_a_release_tag_to_the_image_a_commit_already_built(capsys, ecr):
    assert ensure(capsys)[0] == 0
    digest = put_image(ecr, "agent-saas/api", "sha-1a2b3c4", "d")
    source = f"{ECR_HOST}/agent-saas/api:sha-1a2b3c4"
    code, result, err = retag(capsys, source, "--tag", "1.2.0", "--if-exists")
    assert code == 0, err
    assert result == {
        "found": True,
        "reference": source,
        "image": f"{ECR_HOST}/agent-saas/api@{digest}",
        "digest": digest,
        "tags": {"1.2.0": "added"},
    }
    tagged = ecr.describe_images(repositoryName="agent-saas/api", imageIds=[{"imageTag": "1.2.0"}])
    assert tagged["imageDetails"][0]["imageDigest"] == digest

    # A re-run finds the tag already there (the immutable repository answers with an error).
    code, result, err = retag(capsys, source, "--tag", "1.2.0")
    assert code == 0, err
    assert result["tags"] == {"1.2.0": "present"}


def test_retag_refuses_to_move_an_immutable_tag(capsys, ecr):
    assert ensure(capsys)[0] == 0
    first = put_image(ecr, "agent-saas/api", "1.2.0", "e")
    second = put_image(ecr, "agent-saas/api", "sha-9f8e7d6", "f")
    code, _, err = retag(capsys, f"{ECR_HOST}/agent-saas/api:sha-9f8e7d6", "--tag", "1.2.0")
    assert code == 2
    assert f"{ECR_HOST}/agent-saas/api:1.2.0 already names {first}, not {second}" in err
    still = ecr.describe_images(repositoryName="agent-saas/api", imageIds=[{"imageTag": "1.2.0"}])
    assert still["imageDetails"][0]["imageDigest"] == first


def test_retag_of_a_missing_image(capsys, ecr, tmp_path, monkeypatch):
    assert ensure(capsys)[0] == 0
    source = f"{ECR_HOST}/agent-saas/api:sha-0000000"
    code, _, err = retag(capsys, source, "--tag", "1.0.0")
    assert code == 2
    assert "no such image in ECR" in err

    outputs = tmp_path / "github_output"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_OUTPUT", str(outputs))
    code, result, _ = retag(capsys, source, "--tag", "1.0.0", "--if-exists")
    assert code == 0
    assert result == {"found": False, "reference": source}
    assert "found<<" in outputs.read_text()
    assert "\nfalse\n" in outputs.read_text()


def test_retag_is_for_ecr_only(capsys, sandbox):
    code, _, err = retag(capsys, "ghcr.io/acme/shop/api:sha-1a2b3c4", "--tag", "1.0.0")
    assert code == 2
    assert "retag works on ECR images" in err


def test_retag_from_build_tags_reuses_the_commit_image(capsys, ecr):
    assert ensure(capsys)[0] == 0
    digest = put_image(ecr, "agent-saas/web", "sha-5e6f7a8", "9")
    build_tags = f"{ECR_HOST}/agent-saas/web:2.0.0\n{ECR_HOST}/agent-saas/web:sha-5e6f7a8\n"
    code, result, err = retag(capsys, "--build-tags", build_tags, "--if-exists")
    assert code == 0, err
    assert result["image"] == f"{ECR_HOST}/agent-saas/web@{digest}"
    assert result["tags"] == {"2.0.0": "added"}

    # A commit never built: nothing to reuse, the build goes ahead.
    fresh = f"{ECR_HOST}/agent-saas/web:2.0.1\n{ECR_HOST}/agent-saas/web:sha-0a0b0c0\n"
    code, result, _ = retag(capsys, "--build-tags", fresh, "--if-exists")
    assert code == 0
    assert result["found"] is False
    details = ecr.describe_images(repositoryName="agent-saas/web")["imageDetails"]
    assert [sorted(image["imageTags"]) for image in details] == [["2.0.0", "sha-5e6f7a8"]]


def test_retag_needs_a_reference_or_build_tags(capsys, sandbox):
    code, _, err = retag(capsys)
    assert code == 2
    assert "REF (with --tag) or --build-tags" in err
