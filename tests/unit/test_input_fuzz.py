"""Bad input fuzzing of env files, Terraform outputs and sim policies (shipline.yml: see
test_config_fuzz.py). The only outcomes: success, or exit 2 with a reason; never a traceback."""

from __future__ import annotations

import json
import string
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shipline.sim.policy import Policy, PolicyError, load_policy
from support.fuzz_support import assert_succeeds_or_refuses, mutated, run_main

FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

# --- env files: `shipline env check --env-file` ------------------------------------------------

ENV_LINES = [
    "ENVIRONMENT=staging",
    "DATABASE_URL=postgresql://app:secret@db.internal:5432/app",
    "REDIS_URL=redis://:token@cache.internal:6379/0",
    "APP_PUBLIC_URL=https://app.example.com",
    "API_BASE_URL=https://api.example.com",
    "AWS_REGION=us-east-1",
    "AWS_SM_SIGNING_SECRET_ARN=arn:aws:secretsmanager:us-east-1:123456789012:secret:s-AbCdEf",
    "ALLOWED_HOSTS=api.example.com",
    "export STORAGE_PROVIDER=s3",
    "S3_BUCKET='app-storage'",
    "# a comment",
    "",
]
env_line_parts = st.one_of(
    st.sampled_from(ENV_LINES),
    st.text(max_size=40),
    st.builds(
        lambda key, value: f"{key}={value}",
        st.text(alphabet=string.ascii_uppercase + "_", min_size=1, max_size=12),
        st.text(max_size=30),
    ),
    st.sampled_from(['A="unterminated', "=value", "KEY", "KEY==", "\x00", "A=\\", "export"]),
)


@FUZZ
@given(lines=st.lists(env_line_parts, max_size=12), profile=st.sampled_from(["api", "web"]))
def test_env_files_are_checked_or_refused(tmp_path, capsys, lines, profile):
    path = tmp_path / "app.env"
    path.write_text("\n".join(lines), encoding="utf-8", errors="surrogatepass")
    outcome = run_main(capsys, ["env", "check", "--profile", profile, "--env-file", str(path)])
    assert_succeeds_or_refuses(outcome)


@FUZZ
@given(data=st.binary(max_size=200))
def test_env_files_of_arbitrary_bytes_are_checked_or_refused(tmp_path, capsys, data):
    path = tmp_path / "app.env"
    path.write_bytes(data)
    outcome = run_main(capsys, ["env", "check", "--profile", "worker", "--env-file", str(path)])
    assert_succeeds_or_refuses(outcome)


# --- Terraform outputs: `shipline env from-terraform` -------------------------------------------


def output(value: Any, sensitive: bool = False) -> dict[str, Any]:
    return {"value": value, "type": "string", "sensitive": sensitive}


TERRAFORM_OUTPUTS = {
    "environment": output("staging"),
    "region": output("us-east-1"),
    "api_url": output("https://api.example.com"),
    "web_url": output("https://app.example.com"),
    "storage_bucket_name": output("app-storage", sensitive=True),
    "aws_sm_signing_secret_arn": output(
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:signing-AbCdEf"
    ),
}


@FUZZ
@given(document=mutated(TERRAFORM_OUTPUTS), form=st.sampled_from(["dotenv", "json", "github"]))
def test_mutated_terraform_outputs_map_or_are_refused(
    tmp_path, capsys, monkeypatch, document, form
):
    monkeypatch.setenv("GITHUB_ENV", str(tmp_path / "github.env"))
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    argv = ["env", "from-terraform", "--outputs", str(path), "--format", form]
    assert_succeeds_or_refuses(run_main(capsys, argv))


@FUZZ
@given(text=st.text(max_size=120))
def test_terraform_outputs_of_arbitrary_text_are_refused_or_read(tmp_path, capsys, text):
    path = tmp_path / "outputs.json"
    path.write_text(text, encoding="utf-8")
    assert_succeeds_or_refuses(run_main(capsys, ["env", "from-terraform", "--outputs", str(path)]))


# --- sim policies ---------------------------------------------------------------------------------

SIM_POLICY = {
    "services": {"*": {"converge_seconds": 0.5}, "web": {"fail": "web:v3", "unhealthy": False}},
    "tasks": {"*": {"exit_code": 0, "run_seconds": 0.2, "logs": ["ok"], "reason": "done"}},
    "faults": {
        "seed": 1,
        "operations": {
            "ecs.DescribeServices": {"throttle": 0.3, "server_error": 0.1},
            "ecs.*": {"server_error_status": 503, "delay_seconds": 0.01},
        },
        "health": {"*": {"flap": "alternate"}, "api": {"flap": 0.5, "hang_seconds": 1}},
    },
}


def exercise(policy: Policy) -> None:
    """Every look-up the sandbox makes with a loaded policy."""
    for name in ("*", "web", "api", "other"):
        policy.for_service(name)
        policy.for_task(name)
        policy.faults.for_health(name)
    for name in ("ecs.DescribeServices", "ecs.RunTask", "s3.GetObject"):
        policy.faults.for_operation(name)


def policy_outcome(tmp_path, text: str) -> None:
    path = tmp_path / "policy.json"
    path.write_text(text, encoding="utf-8")
    try:
        policy = load_policy(path)
    except PolicyError as exc:
        assert exc.exit_code == 2
        assert exc.message and "\n" not in exc.message
        return
    exercise(policy)


@FUZZ
@given(document=mutated(SIM_POLICY))
def test_mutated_sim_policies_load_or_are_refused(tmp_path, document):
    policy_outcome(tmp_path, json.dumps(document))


@FUZZ
@given(text=st.text(max_size=120))
def test_sim_policies_of_arbitrary_text_are_refused_or_loaded(tmp_path, text):
    policy_outcome(tmp_path, text)


def test_the_valid_examples_really_succeed(tmp_path, capsys):
    # The mutations start from documents that pass; otherwise the fuzzing proves little.
    exercise(load_policy_text(tmp_path, json.dumps(SIM_POLICY)))
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(TERRAFORM_OUTPUTS), encoding="utf-8")
    assert run_main(capsys, ["env", "from-terraform", "--outputs", str(path)]).code == 0


def load_policy_text(tmp_path, text: str) -> Policy:
    path = tmp_path / "valid-policy.json"
    path.write_text(text, encoding="utf-8")
    return load_policy(path)
