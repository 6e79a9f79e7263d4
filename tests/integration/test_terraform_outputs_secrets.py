"""`shipline terraform outputs` with credentials in outputs Terraform does not mark sensitive.

Tried as an attacker (or a careless module): a `database_url` output carrying a password, a
token under a secret's name. The same rule that masks a task definition's values applies: the
value is masked in GitHub Actions (a URL's password on its own), is not published as a step
output and is not printed; the app's known non-secrets are published and not masked.
"""

from __future__ import annotations

import json

import pytest
from test_terraform_cli import Terraform

DB_PASSWORD = "tf-db-pass-77c1e0"
TOKEN = "tf-api-token-3d9a61b2"
OUTPUTS = {
    "database_url": {
        "sensitive": False,
        "type": "string",
        "value": f"postgres://app:{DB_PASSWORD}@db.internal:5432/app",
    },
    "admin_api_token": {"sensitive": False, "type": "string", "value": TOKEN},
    "secrets_provider": {"sensitive": False, "type": "string", "value": "aws_sm"},
    "aws_sm_signing_secret_arn": {
        "sensitive": False,
        "type": "string",
        "value": "arn:aws:secretsmanager:us-east-1:123456789012:secret:signing-AbCdEf",
    },
    "api_url": {"sensitive": False, "type": "string", "value": "https://api.example.com"},
    "redis_url": {
        "sensitive": True,
        "type": "string",
        "value": "rediss://:tf-redis-auth-5e21@cache.internal:6379/0",
    },
}
PUBLISHED = ("secrets_provider", "aws_sm_signing_secret_arn", "api_url")


@pytest.fixture
def terraform(tmp_path) -> Terraform:
    standin = Terraform(tmp_path)
    standin.outputs.write_text(json.dumps(OUTPUTS))
    return standin


def test_credential_looking_outputs_are_masked_withheld_and_never_printed(terraform):
    github_output = terraform.root / "github-output"
    result = terraform.run(
        "outputs", "--no-init", GITHUB_ACTIONS="true", GITHUB_OUTPUT=str(github_output)
    )

    assert result.returncode == 0, result.stderr
    masks = [line for line in result.stderr.splitlines() if line.startswith("::add-mask::")]
    assert f"::add-mask::{DB_PASSWORD}" in masks
    assert f"::add-mask::{TOKEN}" in masks
    # A sensitive URL: masked whole, and its password on its own.
    assert f"::add-mask::{OUTPUTS['redis_url']['value']}" in masks
    assert "::add-mask::tf-redis-auth-5e21" in masks
    assert "::add-mask::aws_sm" not in masks
    printed = json.loads(result.stdout)
    assert DB_PASSWORD not in result.stdout and TOKEN not in result.stdout
    assert printed["api_url"] == OUTPUTS["api_url"]
    published = github_output.read_text()
    assert DB_PASSWORD not in published and TOKEN not in published
    assert "database_url<<" not in published and "admin_api_token<<" not in published
    for name in PUBLISHED:
        assert f"{name}<<" in published and f"\n{OUTPUTS[name]['value']}\n" in published


def test_outside_actions_credential_looking_values_are_redacted_on_stdout(terraform):
    result = terraform.run("outputs", "--no-init")

    assert result.returncode == 0, result.stderr
    assert DB_PASSWORD not in result.stdout + result.stderr
    assert TOKEN not in result.stdout + result.stderr
    printed = json.loads(result.stdout)
    assert printed["secrets_provider"]["value"] == "aws_sm"
    assert "use --out FILE" in printed["database_url"]["value"]


def test_the_out_file_keeps_every_value(terraform):
    result = terraform.run("outputs", "--no-init", "--out", "outputs.json")

    assert result.returncode == 0, result.stderr
    assert json.loads((terraform.root / "outputs.json").read_text()) == OUTPUTS
    assert DB_PASSWORD not in result.stdout + result.stderr
