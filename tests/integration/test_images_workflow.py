"""build-images.yml: its permissions, its jobs' wiring, and its summary script run for real."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "build-images.yml"
API = "ghcr.io/acme/shop/api@sha256:" + "1" * 64
WEB = "ghcr.io/acme/shop/web@sha256:" + "2" * 64


def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))


def test_least_privilege_per_job():
    document = workflow()
    assert document["permissions"] == {}
    jobs = document["jobs"]
    granted = {job_id: job.get("permissions") for job_id, job in jobs.items()}
    assert granted == {
        "plan": {"contents": "read"},
        "ecr-repositories": {"contents": "read", "id-token": "write"},
        "build-ghcr": {"contents": "read", "packages": "write"},
        "build-ecr": {"contents": "read", "id-token": "write"},
        "build-other": {"contents": "read"},
        "summary": {},
        "tests": {"contents": "read"},
        "deploy": {"contents": "read", "id-token": "write"},
    }
    # Each build job runs only for its registry kind, over the plan's matrix.
    for kind in ("ghcr", "ecr", "other"):
        job = jobs[f"build-{kind}"]
        assert job["if"] == f"needs.plan.outputs.kind == '{kind}'"
        assert job["strategy"]["matrix"] == "${{ fromJSON(needs.plan.outputs.matrix) }}"
        [build] = [step for step in job["steps"] if step.get("uses") == "$/actions/build-push"]
        assert build["with"]["kind"] == kind
        assert build["with"]["cache"] == "${{ github.ref_type != 'tag' }}"
    assert jobs["ecr-repositories"]["if"] == "needs.plan.outputs.kind == 'ecr'"
    assert "ecr-repositories" in jobs["build-ecr"]["needs"]


def test_dispatch_inputs_and_tag_trigger():
    triggers = workflow()[True]  # PyYAML reads `on:` as True
    inputs = triggers["workflow_dispatch"]["inputs"]
    # Empty defaults: the repository's SHIPLINE_REGISTRY/SHIPLINE_IMAGE_PREFIX apply (what each
    # resolves to is played with GitHub's engine in tests/actions/test_workflow_runs.py).
    assert inputs["registry"]["default"] == ""
    assert inputs["image_prefix"]["default"] == ""
    assert triggers["push"] == {"tags": ["v*"]}


def run_summary(
    tmp_path: Path, images: dict[str, str], kind: str = "ghcr", promote_to: str = ""
) -> tuple[int, dict, str]:
    [script] = [
        step["run"]
        for step in workflow()["jobs"]["summary"]["steps"]
        if step.get("id") == "collect"
    ]
    folder = tmp_path / "images"
    folder.mkdir()
    for name, image in images.items():
        (folder / f"{name}.image").write_text(image)
    output, summary = tmp_path / "output", tmp_path / "summary.md"
    output.touch()
    summary.touch()
    env = {
        "PATH": "/usr/bin:/bin",
        "IMAGES_DIR": str(folder),
        "KIND": kind,
        "REGISTRY": "123456789012.dkr.ecr.us-east-1.amazonaws.com" if kind == "ecr" else "ghcr.io",
        "AWS_REGION": "us-east-1" if kind == "ecr" else "",
        "REF_NAME": "v1.4.0",
        "RELEASE_ENVIRONMENT": "staging",
        "PROMOTE_TO": promote_to,
        "GITHUB_OUTPUT": str(output),
        "GITHUB_STEP_SUMMARY": str(summary),
    }
    completed = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    outputs = dict(line.split("=", 1) for line in output.read_text().splitlines())
    return completed.returncode, outputs, summary.read_text() + completed.stdout


def test_summary_lists_the_images_by_digest_with_copy_paste_commands(tmp_path):
    code, outputs, summary = run_summary(tmp_path, {"api": API, "web": WEB})
    assert code == 0, summary
    assert outputs == {"api_image": API, "web_image": WEB}
    assert f"| `api_image` | `{API}` |" in summary
    assert f"  -f api_image='{API}' \\" in summary
    assert "gh workflow run deploy.yml -f environment=staging" in summary
    assert f'web_image = "{WEB}"' in summary
    assert f"docker pull {WEB}" in summary
    assert "docker login ghcr.io" in summary


def test_summary_says_how_to_promote_when_there_is_a_next_environment(tmp_path):
    code, _, summary = run_summary(tmp_path, {"api": API, "web": WEB}, promote_to="production")
    assert code == 0, summary
    assert "## Promote them" in summary
    assert "gh workflow run promote.yml -f from=staging -f to=production" in summary
    (tmp_path / "alone").mkdir()
    _, _, alone = run_summary(tmp_path / "alone", {"api": API, "web": WEB})
    assert "promote.yml" not in alone


def test_summary_for_ecr_names_the_ecr_login(tmp_path):
    code, _, summary = run_summary(tmp_path, {"api": API}, kind="ecr")
    assert code == 0
    assert (
        "aws ecr get-login-password --region us-east-1 | docker login --username AWS "
        "--password-stdin 123456789012.dkr.ecr.us-east-1.amazonaws.com"
    ) in summary


def test_summary_fails_without_digests(tmp_path):
    code, outputs, log = run_summary(tmp_path, {})
    assert code == 1
    assert outputs == {}
    assert "::error::no image digests were recorded" in log


def test_the_deploy_gets_this_runs_digests():
    deploy = workflow()["jobs"]["deploy"]
    assert deploy["needs"] == ["plan", "summary", "tests"]
    assert deploy["with"] == {
        # The first environment of shipline.yml's `promotion` (played in test_workflow_runs.py).
        "environment": "${{ fromJSON(needs.plan.outputs.promotion || '[]')[0] "
        "|| vars.RELEASE_ENVIRONMENT || 'production' }}",
        "api_image": "${{ needs.summary.outputs.api_image }}",
        "web_image": "${{ needs.summary.outputs.web_image }}",
        # The commit of the images: the record keeps it (lead time for changes).
        "commit_sha": "${{ github.sha }}",
        "committed_at": "${{ needs.plan.outputs.committed_at }}",
    }
    assert "inherit" not in json.dumps(deploy.get("secrets"))
