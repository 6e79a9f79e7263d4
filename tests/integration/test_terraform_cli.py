"""`shipline terraform` against a stand-in terraform executable: arguments and exit codes.

Terraform cannot run here. The stand-in records its arguments, prints a plan JSON fixture for
`show -json` and outputs for `output -json`, and fails the sub-command named in
$STANDIN_FAIL. Plan analysis itself is unit-tested (tests/unit/test_terraform_plan.py).
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

PLANS = Path(__file__).resolve().parents[1] / "infra" / "fixtures" / "plans"

STANDIN = """#!{python}
import json, os, sys
args = sys.argv[1:]
with open(os.environ["STANDIN_LOG"], "a") as log:
    log.write(json.dumps(args) + "\\n")
command = next(a for a in args if not a.startswith("-"))
if command not in ("show", "output"):
    print(f"stand-in terraform {{command}}")  # terraform talks on stdout; shipline must not
if os.environ.get("STANDIN_FAIL") == command:
    sys.stderr.write(f"Error: {{command}} failed\\n")
    sys.exit(int(os.environ.get("STANDIN_EXIT", "1")))
if command == "plan":
    out = next(a for a in args if a.startswith("-out="))[len("-out="):]
    with open(out, "w") as plan:
        plan.write("binary plan")
elif command == "show":
    sys.stdout.write(open(os.environ["STANDIN_PLAN_JSON"]).read())
    sys.exit(0)
elif command == "output":
    sys.stdout.write(open(os.environ["STANDIN_OUTPUTS"]).read())
    sys.exit(0)
"""

OUTPUTS = {
    "api_url": {"sensitive": False, "type": "string", "value": "https://api.example.com"},
    "private_subnet_ids": {
        "sensitive": False,
        "type": ["list", "string"],
        "value": ["subnet-1", "subnet-2"],
    },
    "db_password": {"sensitive": True, "type": "string", "value": "hunter2-very-secret"},
}


class Terraform:
    """The stand-in, a working directory and a way to run shipline against them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.executable = root / "bin" / "terraform"
        self.executable.parent.mkdir()
        self.executable.write_text(STANDIN.format(python=sys.executable))
        self.executable.chmod(self.executable.stat().st_mode | stat.S_IEXEC)
        self.log = root / "calls.jsonl"
        self.blueprint = root / "infra"
        self.blueprint.mkdir()
        (root / "prod.tfvars").write_text('environment = "production"\n')
        (root / "backend.hcl").write_text('bucket = "state"\n')
        self.outputs = root / "outputs.fixture.json"
        self.outputs.write_text(json.dumps(OUTPUTS))
        self.plan_json = PLANS / "release.json"
        self.env: dict[str, str] = {}

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        environment = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("GITHUB_", "SHIPLINE_", "STANDIN_"))
        }
        environment.update(
            SHIPLINE_TERRAFORM=str(self.executable),
            STANDIN_LOG=str(self.log),
            STANDIN_PLAN_JSON=str(self.plan_json),
            STANDIN_OUTPUTS=str(self.outputs),
        )
        environment.update(self.env)
        environment.update(env)
        return subprocess.run(
            [sys.executable, "-m", "shipline", "terraform", *args, "--dir", str(self.blueprint)],
            cwd=self.root,
            env=environment,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def calls(self) -> list[list[str]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def commands(self) -> list[str]:
        return [next(a for a in call if not a.startswith("-")) for call in self.calls()]


@pytest.fixture
def terraform(tmp_path) -> Terraform:
    return Terraform(tmp_path)


def error_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in result.stderr.splitlines() if line.startswith("shipline: error:")]
    assert len(lines) == 1, result.stderr
    return lines[0]


def step_outputs(path: Path) -> dict[str, str]:
    from support.actions.runner import parse_command_file  # GITHUB_OUTPUT as the runner reads it

    return parse_command_file(path.read_text())


def test_plan_passes_arguments_and_keeps_stdout_for_json(terraform):
    result = terraform.run(
        "plan",
        "--backend-config",
        "backend.hcl",
        "--backend-config",
        "key=prod.tfstate",
        "--var-file",
        "prod.tfvars",
        "--var",
        "api_image=ghcr.io/o/api:1.2.3",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    chdir = f"-chdir={terraform.blueprint}"
    plan_file = str(terraform.root / "shipline.tfplan")
    assert terraform.calls() == [
        [
            chdir,
            "init",
            "-input=false",
            "-no-color",  # stderr is a pipe here, not a terminal: no escape codes
            f"-backend-config={terraform.root / 'backend.hcl'}",
            "-backend-config=key=prod.tfstate",
        ],
        [
            chdir,
            "plan",
            "-input=false",
            "-no-color",
            "-lock-timeout=5m",
            f"-out={plan_file}",
            f"-var-file={terraform.root / 'prod.tfvars'}",
            "-var=api_image=ghcr.io/o/api:1.2.3",
        ],
        [chdir, "show", "-json", plan_file],
    ]
    report = json.loads(result.stdout)  # terraform's own chatter went to stderr
    assert report["refused"] is False
    assert report["counts"]["replace"] == 2
    assert "stand-in terraform plan" in result.stderr


def test_plan_of_a_stateful_replacement_exits_2_with_one_line(terraform):
    terraform.plan_json = PLANS / "stateful-replace.json"
    result = terraform.run("plan")
    assert result.returncode == 2
    line = error_line(result)
    assert "aws_db_instance.main (replace)" in line
    assert 'aws_s3_bucket.this["storage"] (replace)' in line
    assert "Traceback" not in result.stderr


def test_apply_refuses_and_applies_nothing(terraform):
    terraform.plan_json = PLANS / "stateful-delete.json"
    result = terraform.run("apply", "--allow-destroy", "aws_kms_key.main")
    assert result.returncode == 2
    assert "apply" not in terraform.commands()
    line = error_line(result)
    assert "module.cache.aws_elasticache_replication_group.main (delete)" in line
    assert "aws_kms_key.main" not in line  # that one was allowed


def test_apply_with_every_stateful_address_allowed_applies_the_saved_plan(terraform):
    terraform.plan_json = PLANS / "stateful-replace.json"
    result = terraform.run(
        "apply",
        "--allow-destroy",
        "aws_db_instance.main",
        "--allow-destroy",
        'aws_s3_bucket.this["storage"]',
    )
    assert result.returncode == 0, result.stderr
    assert terraform.commands() == ["init", "plan", "show", "apply"]
    plan_file = str(terraform.root / "shipline.tfplan")
    assert terraform.calls()[-1] == [
        f"-chdir={terraform.blueprint}",
        "apply",
        "-input=false",
        "-no-color",
        "-lock-timeout=5m",
        plan_file,
    ]


def test_apply_of_an_existing_plan_file_does_not_plan_again(terraform):
    saved = terraform.root / "reviewed.tfplan"
    saved.write_text("binary plan")
    result = terraform.run("apply", "--plan-file", "reviewed.tfplan", "--no-init")
    assert result.returncode == 0, result.stderr
    assert terraform.commands() == ["show", "apply"]
    assert terraform.calls()[-1][-1] == str(saved)


def test_apply_of_a_missing_plan_file_is_refused_before_terraform_runs(terraform):
    result = terraform.run("apply", "--plan-file", "nope.tfplan")
    assert result.returncode == 2
    assert "--plan-file nope.tfplan: no such file" in error_line(result)
    assert terraform.calls() == []


@pytest.mark.parametrize("failing", ["init", "plan", "show"])
def test_failures_before_apply_exit_1(terraform, failing):
    terraform.env["STANDIN_FAIL"] = failing
    result = terraform.run("apply")
    assert result.returncode == 1
    assert f"terraform {failing} failed (exit 1)" in error_line(result)
    assert "apply" not in terraform.commands()


def test_a_failed_apply_exits_3(terraform):
    terraform.env.update(STANDIN_FAIL="apply", STANDIN_EXIT="1")
    result = terraform.run("apply")
    assert result.returncode == 3
    assert "some resources may have changed" in error_line(result)


def test_missing_terraform_exits_2(terraform):
    terraform.env["SHIPLINE_TERRAFORM"] = str(terraform.root / "no-such-terraform")
    result = terraform.run("plan")
    assert result.returncode == 2
    assert "not found" in error_line(result)


def test_malformed_var_exits_2_before_terraform_runs(terraform):
    result = terraform.run("plan", "--var", "no-equals-sign")
    assert result.returncode == 2
    assert terraform.calls() == []


def test_var_values_never_reach_the_log(terraform):
    result = terraform.run("plan", "--var", "registry_password=s3cr3t-value")
    assert result.returncode == 0, result.stderr
    assert "s3cr3t-value" not in result.stderr + result.stdout
    assert "-var=registry_password=***" in result.stderr


def test_step_summary_and_outputs_in_github_actions(terraform):
    summary = terraform.root / "summary.md"
    outputs = terraform.root / "github-output"
    terraform.plan_json = PLANS / "stateful-replace.json"
    result = terraform.run(
        "plan",
        GITHUB_ACTIONS="true",
        GITHUB_STEP_SUMMARY=str(summary),
        GITHUB_OUTPUT=str(outputs),
    )
    assert result.returncode == 2
    markdown = summary.read_text()
    assert "### Terraform plan" in markdown
    assert "| `-/+` | `aws_db_instance.main` | replace |" in markdown
    assert "Refused" in markdown
    assert "refused<<" in outputs.read_text() or "refused=true" in outputs.read_text()
    assert "::error" in result.stderr


def test_outputs_writes_terraform_output_json_to_a_private_file(terraform):
    target = terraform.root / "outputs.json"
    result = terraform.run("outputs", "--out", "outputs.json", "--no-init")
    assert result.returncode == 0, result.stderr
    assert terraform.commands() == ["output"]
    assert json.loads(target.read_text()) == OUTPUTS
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert result.stdout == ""


def test_outputs_in_actions_masks_sensitive_values_and_publishes_the_rest(terraform):
    github_output = terraform.root / "github-output"
    result = terraform.run("outputs", GITHUB_ACTIONS="true", GITHUB_OUTPUT=str(github_output))
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    assert printed["api_url"] == OUTPUTS["api_url"]
    assert printed["db_password"]["value"] == "(sensitive: use --out FILE)"
    assert "hunter2" not in result.stdout
    assert "::add-mask::hunter2-very-secret" in result.stderr
    published = github_output.read_text()
    assert "https://api.example.com" in published
    assert "subnet-1" in published
    assert "hunter2" not in published


def test_plan_replacing_log_groups_queues_and_parameters_exits_2(terraform):
    terraform.plan_json = PLANS / "data-replace.json"
    result = terraform.run("plan")
    assert result.returncode == 2
    line = error_line(result)
    assert "aws_cloudwatch_log_group.flow_logs (replace)" in line
    assert "aws_ssm_parameter.feature_flags (delete)" in line
    assert "aws_ecs_task_definition" not in line


def test_apply_of_a_plan_that_changes_nothing_skips_terraform_apply(terraform):
    terraform.plan_json = PLANS / "no-changes.json"
    github_output = terraform.root / "github-output"
    result = terraform.run(
        "apply", "--json", GITHUB_ACTIONS="true", GITHUB_OUTPUT=str(github_output)
    )
    assert result.returncode == 0, result.stderr
    assert terraform.commands() == ["init", "plan", "show"]  # terraform apply never ran
    assert result.stderr.count("no changes: apply skipped") == 1
    report = json.loads(result.stdout)
    assert (report["applied"], report["has_changes"]) == (False, False)
    assert step_outputs(github_output)["has_changes"] == "false"


def test_apply_of_a_saved_plan_that_changes_nothing_skips_terraform_apply(terraform):
    terraform.plan_json = PLANS / "no-changes.json"
    (terraform.root / "reviewed.tfplan").write_text("binary plan")
    result = terraform.run("apply", "--plan-file", "reviewed.tfplan", "--no-init")
    assert result.returncode == 0, result.stderr
    assert terraform.commands() == ["show"]
    assert "no changes: apply skipped" in result.stderr


def test_apply_of_a_plan_that_changes_only_outputs_applies_it(terraform):
    terraform.plan_json = PLANS / "outputs-only.json"
    result = terraform.run("apply", "--json")
    assert result.returncode == 0, result.stderr
    assert terraform.commands() == ["init", "plan", "show", "apply"]
    assert "apply skipped" not in result.stderr
    report = json.loads(result.stdout)
    assert (report["applied"], report["has_changes"]) == (True, True)


@pytest.mark.parametrize(
    ("plan", "has_changes"), [("no-changes.json", "false"), ("release.json", "true")]
)
def test_plan_says_whether_the_plan_changes_anything(terraform, plan, has_changes):
    terraform.plan_json = PLANS / plan
    github_output = terraform.root / "github-output"
    result = terraform.run(
        "plan", "--json", GITHUB_ACTIONS="true", GITHUB_OUTPUT=str(github_output)
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["has_changes"] is (has_changes == "true")
    assert step_outputs(github_output)["has_changes"] == has_changes
