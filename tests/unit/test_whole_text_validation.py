"""A check that decides whether input is acceptable looks at the whole text.

Python's `$` also matches before a final "\\n", so `re.match(r"^[a-z]+$", "v1\\n")` accepts
it; JSON Schema's `pattern` (ECMA-262) does not. A value ending in a newline that passed such a
check would break the line it is written into: a dotenv line, a step output, an image reference.
"""

from __future__ import annotations

import json

import pytest

from shipline import github, schemas
from shipline.cli import main
from shipline.env.dotenv import parse_env_text
from shipline.errors import UsageError
from shipline.images.reference import parse_image_ref
from shipline.release.plan import parse_assignments
from shipline.terraform import check_lock_timeout

DIGEST = "sha256:" + "a" * 64


@pytest.fixture
def no_actions(monkeypatch):
    for name in ("GITHUB_ACTIONS", "GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY", "GITHUB_ENV"):
        monkeypatch.delenv(name, raising=False)


def test_dotenv_quotes_a_value_ending_in_a_newline_so_it_reads_back_whole(
    tmp_path, capsys, no_actions
):
    outputs = {"environment": {"value": "production\n", "type": "string", "sensitive": False}}
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(outputs), encoding="utf-8")

    assert main(["env", "from-terraform", "--outputs", str(path), "--format", "dotenv"]) == 0

    dotenv = capsys.readouterr().out
    assert 'ENVIRONMENT="production\\n"\n' in dotenv  # not `ENVIRONMENT=production` + a blank
    read_back = {entry.key: entry.value for entry in parse_env_text(dotenv)}
    assert read_back["ENVIRONMENT"] == "production\n"


@pytest.mark.parametrize(
    "reference",
    [
        f"ghcr.io/acme/api:v1\n@{DIGEST}",  # the tag ends in a newline
        "ghcr.io/acme\n/api:v1",  # a path component does
        "127.0.0.1:5000\n/acme/api:v1",  # the registry host does
        f"ghcr.io/acme/api@{DIGEST}\n",
    ],
)
def test_an_image_reference_with_a_line_break_is_malformed(reference):
    with pytest.raises(UsageError, match="malformed image reference"):
        parse_image_ref(reference)


def test_images_resolve_refuses_a_reference_with_a_line_break_before_any_request(
    capsys, no_actions
):
    # Port 9 on loopback: were the reference accepted, the request would fail there instead.
    code = main(["images", "resolve", "api=127.0.0.1:9\n/acme/api:v1"])

    err = capsys.readouterr().err
    assert code == 2
    assert "malformed image reference" in err


def test_a_step_output_name_ending_in_a_newline_is_refused():
    with pytest.raises(ValueError, match="not a valid output name"):
        github.output_block("release_id\n", "20260101T000000Z-abcdef")


@pytest.mark.parametrize("option", ["api=ghcr.io/acme/api:v1\n", "api\n=ghcr.io/acme/api:v1"])
def test_a_key_ref_option_with_a_line_break_is_refused(option):
    with pytest.raises(UsageError, match="expected KEY=VALUE"):
        parse_assignments([option], "--image")


def test_a_lock_timeout_ending_in_a_newline_is_refused():
    with pytest.raises(UsageError, match="expected a duration"):
        check_lock_timeout("5m\n")


LOCK = {
    "holder": "ci@runner",
    "release_id": "20260101T000000Z-abcdef",
    "run_url": None,
    "acquired_at": "2026-01-01T00:00:00Z",
    "expires_at": "2026-01-01T01:00:00Z",
}


def test_a_lock_whose_release_id_ends_in_a_newline_does_not_fit_its_schema():
    """The release id becomes the S3 key `<release_id>.json` and the step output `release_id`."""
    assert schemas.problems("release-lock", LOCK) == []
    problems = schemas.problems("release-lock", {**LOCK, "release_id": LOCK["release_id"] + "\n"})
    assert [problem.split(":")[0] for problem in problems] == ["release_id"]


def test_an_environment_named_with_a_trailing_newline_is_a_config_problem(tmp_path, capsys):
    config = tmp_path / "shipline.yml"
    config.write_text(
        'version: 1\nenvironments:\n  "staging\\n":\n    cluster: staging\n'
        "    history: s3://my-releases\n    services:\n      api: {}\n",
        encoding="utf-8",
    )
    assert main(["config", "check", "--config", str(config)]) == 2
    assert "is not allowed" in capsys.readouterr().err


def test_a_secrets_manager_arn_with_text_after_it_is_not_an_arn(tmp_path, capsys, no_actions):
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:signing-AbCdEf"
    env = tmp_path / "app.env"
    for value, accepted in ((arn, True), (f"{arn}:url::", True), (f'"{arn} ; echo"', False)):
        env.write_text(f"AWS_SM_SIGNING_SECRET_ARN={value}\n", encoding="utf-8")
        main(["env", "check", "--profile", "api", "--env-file", str(env), "--json"])
        document = json.loads(capsys.readouterr().out)
        found = [p for p in document["problems"] if p["variable"] == "AWS_SM_SIGNING_SECRET_ARN"]
        assert (not found) == accepted, (value, found)
