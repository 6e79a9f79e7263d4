"""checkov on the blueprint (must pass) and on the insecure variant (must fail), by its JSON report.

checkov lives in its own venv (`make checkov-venv`; see the Makefile). Its exit code alone
proves nothing (a crash also exits 1), so every assertion reads the JSON summary.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from support.infra import infra_rules as rules

CHECKOV = rules.REPO / ".venv-checkov" / "bin" / "checkov"
POLICIES = rules.BLUEPRINT / "policies"
CUSTOM_IDS = sorted(
    set(re.findall(r'id="(CKV_SHIPLINE_\d+)"', (POLICIES / "blueprint_checks.py").read_text()))
)
# Built-in checks the insecure variant must fail (RDS, ElastiCache, S3, ECS).
INSECURE_BUILTIN = [
    "CKV_AWS_16",  # RDS not encrypted
    "CKV_AWS_17",  # RDS publicly accessible
    "CKV_AWS_293",  # RDS deletion protection
    "CKV_AWS_29",  # ElastiCache at rest
    "CKV_AWS_30",  # ElastiCache in transit
    "CKV_AWS_31",  # ElastiCache auth token
    "CKV2_AWS_6",  # S3 public access block
    "CKV_AWS_333",  # ECS public IP
]


def pinned_version() -> str:
    makefile = (rules.REPO / "Makefile").read_text()
    match = re.search(r"^CHECKOV_VERSION\s*:=\s*(\S+)", makefile, re.MULTILINE)
    assert match, "Makefile does not pin CHECKOV_VERSION"
    return match.group(1)


def run_checkov(directory: Path, *extra: str) -> dict[str, Any]:
    """Run checkov on `directory` (as the working directory) and return its parsed report."""
    if not CHECKOV.exists():
        pytest.fail(
            f"{CHECKOV} is missing: run `make checkov-venv` (checkov needs its own venv)",
            pytrace=False,
        )
    command = [str(CHECKOV), "-d", ".", "--compact", "-o", "json", *extra]
    # BC_SKIP_MAPPING: no attempt to fetch guideline links (there is no network here).
    environment = dict(os.environ, BC_SKIP_MAPPING="TRUE")
    result = subprocess.run(
        command,
        cwd=directory,
        env=environment,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        pytest.fail(
            f"checkov crashed (exit {result.returncode}) without a JSON report: "
            f"{result.stderr[-2000:]}",
            pytrace=False,
        )
    if isinstance(report, list):  # one report per framework
        (report,) = [r for r in report if r.get("check_type") == "terraform"]
    report["exit_code"] = result.returncode
    return report


def failed_ids(report: dict[str, Any]) -> set[str]:
    return {check["check_id"] for check in report["results"]["failed_checks"]}


@pytest.fixture(scope="module")
def blueprint_report() -> dict[str, Any]:
    # From the blueprint directory: checkov reads .checkov.yaml (skips, custom policies) there.
    return run_checkov(rules.BLUEPRINT)


@pytest.fixture(scope="module")
def insecure_report() -> dict[str, Any]:
    return run_checkov(
        rules.INSECURE,
        "--framework",
        "terraform",
        "--skip-download",
        "--external-checks-dir",
        str(POLICIES),
    )


def test_blueprint_passes_checkov(blueprint_report):
    summary = blueprint_report["summary"]
    failures = [
        f"{c['check_id']} {c['resource']}" for c in blueprint_report["results"]["failed_checks"]
    ]
    assert summary["parsing_errors"] == 0
    assert summary["resource_count"] > 50, "checkov saw (almost) nothing"
    assert summary["passed"] > 300
    assert summary["failed"] == 0, failures
    assert blueprint_report["exit_code"] == 0


def test_checkov_is_the_pinned_version(blueprint_report):
    assert blueprint_report["summary"]["checkov_version"] == pinned_version()


def test_custom_policies_ran_and_passed_on_the_blueprint(blueprint_report):
    passed = {check["check_id"] for check in blueprint_report["results"]["passed_checks"]}
    assert len(CUSTOM_IDS) >= 7
    assert sorted(set(CUSTOM_IDS) - passed) == []


def test_every_inline_skip_has_a_reason(blueprint_report):
    skipped = blueprint_report["results"]["skipped_checks"]
    assert skipped, "expected the documented inline skips"
    unexplained = [
        f"{c['check_id']} {c['resource']}"
        for c in skipped
        if len(c["check_result"].get("suppress_comment", "").strip()) < 20
    ]
    assert unexplained == []


def test_every_skip_in_checkov_yaml_has_a_reason():
    lines = (rules.BLUEPRINT / ".checkov.yaml").read_text().splitlines()
    start = lines.index("skip-check:")
    unexplained = []
    for index in range(start + 1, len(lines)):
        line = lines[index].strip()
        if not line.startswith("- "):
            if line.startswith("#") or not line:
                continue
            break
        if not lines[index - 1].strip().startswith("#"):
            unexplained.append(line)
    assert unexplained == []


def test_insecure_variant_fails_builtin_checks(insecure_report):
    assert insecure_report["summary"]["parsing_errors"] == 0
    assert insecure_report["summary"]["resource_count"] > 0
    assert insecure_report["exit_code"] == 1
    assert sorted(set(INSECURE_BUILTIN) - failed_ids(insecure_report)) == []


def test_insecure_variant_fails_every_custom_policy(insecure_report):
    assert sorted(set(CUSTOM_IDS) - failed_ids(insecure_report)) == []


def test_a_parse_error_shows_in_the_summary(tmp_path):
    # The blueprint assertions rely on parsing_errors; prove checkov reports them.
    (tmp_path / "broken.tf").write_text('resource "aws_s3_bucket" "x" {\n  bucket = \n')
    report = run_checkov(tmp_path, "--framework", "terraform", "--skip-download")
    assert report["summary"]["parsing_errors"] >= 1
