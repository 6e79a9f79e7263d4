"""`shipline env check|from-terraform` end to end through the CLI: exit codes, output, masking."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest

from shipline.cli import main

SECRET_DB = "postgresql://app:Db-Pa55w0rd-XYZ@db.internal:5432/app"
SECRET_REDIS = "rediss://:R3dis-T0ken-QRS@cache.internal:6379/0"
SECRET_STRIPE = "sk_live_9f8e7d6c5b4a39281706"
SECRETS = ["Db-Pa55w0rd-XYZ", "R3dis-T0ken-QRS", SECRET_STRIPE]
GOOD_API = f"""\
ENVIRONMENT=staging
DATABASE_URL={SECRET_DB}
REDIS_URL={SECRET_REDIS}
APP_PUBLIC_URL=https://app.example.com
API_BASE_URL=https://api.example.com
AWS_REGION=us-east-1
AWS_SM_SIGNING_SECRET_ARN=arn:aws:secretsmanager:us-east-1:123456789012:secret:signing-AbCdEf
AUTH_KEY_STORAGE_BACKEND=secret-manager
AUTH_KEY_STORAGE_PROVIDER=aws_sm
AUTH_KEY_SECRET_NAME=arn:aws:secretsmanager:us-east-1:123456789012:secret:keyset-AbCdEf
STORAGE_PROVIDER=s3
S3_BUCKET=app-storage
ALLOWED_HOSTS=api.example.com
STRIPE_SECRET_KEY={SECRET_STRIPE}
"""


@pytest.fixture
def actions(tmp_path, monkeypatch):
    """Run as inside GitHub Actions, with a step summary and an env file of our own."""
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("GITHUB_ENV", str(tmp_path / "github.env"))
    return tmp_path


def write(tmp_path, text: str, name: str = "app.env"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_a_clean_file_exits_0(tmp_path, capsys):
    assert main(["env", "check", "--profile", "api", "--env-file", write(tmp_path, GOOD_API)]) == 0
    assert "ok, 0 errors, 0 warnings" in capsys.readouterr().err


def test_warnings_are_printed_and_exit_0_unless_strict(tmp_path, capsys):
    path = write(tmp_path, GOOD_API + "SECRETS_PROVIDER=keepass\nAWS_REGION_X=1\n")
    assert main(["env", "check", "--profile", "api", "--env-file", path]) == 0
    err = capsys.readouterr().err
    assert "warning  SECRETS_PROVIDER is not one of the known values" in err
    assert "fix: use one of aws_sm" in err
    assert main(["env", "check", "--profile", "api", "--env-file", path, "--strict"]) == 2


def test_errors_exit_2_listing_every_problem(tmp_path, capsys):
    path = write(tmp_path, "ENVIRONMENT=production\nAPP_PUBLIC_URL=http://app.example.com\n")
    code = main(["env", "check", "--profile", "api", "--env-file", path, "--json"])
    assert code == 2
    result = json.loads(capsys.readouterr().out)
    assert result["ok"] is False and result["production"] is True
    variables = {problem["variable"] for problem in result["problems"]}
    assert {
        "DATABASE_URL",
        "REDIS_URL",
        "ALLOWED_HOSTS",
        "APP_PUBLIC_URL",
        "AWS_REGION",
    } <= variables
    assert result["errors"] == len(result["problems"])
    assert all(problem["fix"] for problem in result["problems"])


def test_json_after_the_action_or_before_it(tmp_path, capsys):
    path = write(tmp_path, GOOD_API)
    assert main(["env", "--json", "check", "--profile", "api", "--env-file", path]) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True


def test_the_process_environment_is_checked_without_a_file(monkeypatch, capsys):
    for line in GOOD_API.splitlines():
        name, _, value = line.partition("=")
        monkeypatch.setenv(name, value)
    assert main(["env", "check", "--profile", "api"]) == 0
    monkeypatch.delenv("DATABASE_URL")
    assert main(["env", "check", "--profile", "api"]) == 2
    assert "DATABASE_URL is not set" in capsys.readouterr().err


def test_environment_name_turns_on_production_rules(tmp_path):
    text = GOOD_API.replace("https://app.example.com", "http://app.example.com")
    path = write(tmp_path, text)  # an http:// APP_PUBLIC_URL and ENVIRONMENT=staging
    assert main(["env", "check", "--profile", "api", "--env-file", path]) == 0
    args = ["env", "check", "--profile", "api", "--env-file", path, "--environment-name"]
    assert main([*args, "production"]) == 2


def test_api_replicas_check_the_billing_topology(tmp_path, capsys):
    path = write(tmp_path, GOOD_API + "ENABLE_BILLING_RETRY_WORKER=true\n")
    base = ["env", "check", "--profile", "api", "--env-file", path]
    assert main([*base, "--api-replicas", "1"]) == 0
    assert main([*base, "--api-replicas", "2"]) == 2
    assert "ENABLE_BILLING_RETRY_WORKER is 'true'" in capsys.readouterr().err


def test_secrets_are_masked_in_every_output(tmp_path, actions, capsys):
    # redis:// (no TLS) + a bad DATABASE_URL scheme: the problems are about the secrets.
    text = GOOD_API.replace("rediss://", "redis://").replace("postgresql://", "mysql://")
    path = write(tmp_path, text)
    assert main(["env", "check", "--profile", "api", "--env-file", path, "--json"]) == 2
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    summary = (actions / "summary.md").read_text(encoding="utf-8")
    assert {"DATABASE_URL", "REDIS_URL"} <= {p["variable"] for p in result["problems"]}
    assert result["variables"]["DATABASE_URL"] == "***"
    assert "::error" in captured.err and "REDIS_URL" in summary
    for secret in SECRETS:
        for name, text in (
            ("stdout", captured.out),
            ("stderr", captured.err),
            ("summary", summary),
        ):
            assert secret not in text, f"{secret} printed in {name}"


def test_a_malformed_env_file_is_exit_2_with_its_line(tmp_path, capsys):
    path = write(tmp_path, "A=1\nB=2\nA=3\n")
    assert main(["env", "check", "--profile", "web", "--env-file", path]) == 2
    err = capsys.readouterr().err
    assert err == f"shipline: error: {path}:3: duplicate key A (first set on line 1)\n"


def test_an_unreadable_env_file_is_exit_2(tmp_path, capsys):
    assert main(["env", "check", "--profile", "web", "--env-file", str(tmp_path / "no")]) == 2
    assert capsys.readouterr().err.endswith("env file not found\n")


def test_no_traceback_from_the_installed_command(tmp_path):
    path = write(tmp_path, "DATABASE_URL\n")
    done = subprocess.run(
        [sys.executable, "-m", "shipline", "env", "check", "--profile", "api", "--env-file", path],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr == f"shipline: error: {path}:1: expected KEY=VALUE\n"


OUTPUTS = {
    "environment": {"value": "production", "type": "string", "sensitive": False},
    "region": {"value": "us-east-1", "type": "string", "sensitive": False},
    "api_url": {"value": "https://api.example.com", "type": "string", "sensitive": False},
    "web_url": {"value": "https://app.example.com", "type": "string", "sensitive": False},
    "storage_bucket_name": {"value": "app-storage", "type": "string", "sensitive": True},
    "aws_sm_signing_secret_arn": {
        "value": "arn:aws:secretsmanager:us-east-1:123456789012:secret:signing-AbCdEf",
        "type": "string",
        "sensitive": False,
    },
}


def test_from_terraform_dotenv_reads_back_and_checks_clean(tmp_path, capsys):
    path = write(tmp_path, json.dumps(OUTPUTS), "outputs.json")
    assert main(["env", "from-terraform", "--outputs", path]) == 0
    captured = capsys.readouterr()
    assert "APP_PUBLIC_URL=https://app.example.com\n" in captured.out
    assert "APP_PUBLIC_URL <- output web_url" in captured.err
    dotenv = write(tmp_path, captured.out, "web.env")
    assert main(["env", "check", "--profile", "web", "--env-file", dotenv]) == 0


def test_from_terraform_json(tmp_path, capsys):
    path = write(tmp_path, json.dumps(OUTPUTS), "outputs.json")
    assert main(["env", "from-terraform", "--outputs", path, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["API_BASE_URL"] == "https://api.example.com"


def test_from_terraform_github_appends_and_masks(tmp_path, actions, capsys):
    env_file = actions / "github.env"
    env_file.write_text("EARLIER=1\n", encoding="utf-8")
    path = write(tmp_path, json.dumps(OUTPUTS), "outputs.json")
    assert main(["env", "from-terraform", "--outputs", path, "--format", "github"]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "::add-mask::app-storage" in captured.err
    assert "::add-mask::production" not in captured.err  # only sensitive outputs
    assert captured.err.index("::add-mask::") < captured.err.index("added to $GITHUB_ENV")
    text = env_file.read_text(encoding="utf-8")
    assert text.startswith("EARLIER=1\n")
    assert "S3_BUCKET<<ghadelimiter_" in text and "\napp-storage\nghadelimiter_" in text


def test_from_terraform_github_needs_github_env(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("GITHUB_ENV", raising=False)
    path = write(tmp_path, json.dumps(OUTPUTS), "outputs.json")
    assert main(["env", "from-terraform", "--outputs", path, "--format", "github"]) == 2
    assert "needs $GITHUB_ENV" in capsys.readouterr().err


@pytest.mark.parametrize(
    "text",
    [
        "{",
        "[]",
        '{"region": "us-east-1"}',
        "",  # an empty file
        "{}\n",  # `terraform output -json` before the first apply
        '{"cluster_name": {"value": "acme"}, "api_base_url": {"value": ""}}',  # no app variable
    ],
)
def test_a_bad_outputs_file_is_exit_2_in_one_line(tmp_path, capsys, text):
    path = write(tmp_path, text, "outputs.json")
    assert main(["env", "from-terraform", "--outputs", path]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"shipline: error: {path}: ") and captured.err.count("\n") == 1


def test_from_terraform_reads_stdin(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps(OUTPUTS)))
    assert main(["env", "from-terraform", "--outputs", "-", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["S3_BUCKET"] == "app-storage"


def test_negative_api_replicas_is_a_usage_error(tmp_path, capsys):
    path = write(tmp_path, GOOD_API)
    assert (
        main(["env", "check", "--profile", "api", "--env-file", path, "--api-replicas", "-1"]) == 2
    )
    assert "--api-replicas must be 0 or more" in capsys.readouterr().err


def test_check_reads_from_terraform_outputs_whether_redis_needs_its_token(tmp_path, capsys):
    tokenless = GOOD_API.replace(":R3dis-T0ken-QRS@", "")
    path = write(tmp_path, tokenless)
    base = ["env", "check", "--profile", "api", "--env-file", path]
    token_arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:redis-auth-AbCdEf"
    required = write(
        tmp_path, json.dumps({"redis_auth_token_secret_arn": {"value": token_arn}}), "on.json"
    )
    off = write(tmp_path, json.dumps({"redis_auth_token_secret_arn": {"value": None}}), "off.json")
    assert main([*base, "--terraform-outputs", required]) == 2
    assert "REDIS_URL has no password" in capsys.readouterr().err
    assert main([*base, "--terraform-outputs", off]) == 0
    assert main([*base]) == 0  # not known: a warning
    assert main([*base, "--strict"]) == 2
