"""Without AWS credentials a command says how to provide them, in one line, before any call."""

from __future__ import annotations

import pytest

from shipline import aws
from shipline.cli import main
from support.configs import ONE_SERVICE


@pytest.fixture
def no_credentials(monkeypatch, tmp_path):
    """Every place botocore looks for credentials is empty (and the metadata service is off)."""
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_ARN",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "GITHUB_ACTIONS",
        "GITHUB_OUTPUT",
        "GITHUB_STEP_SUMMARY",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # never reached
    aws.client.cache_clear()
    yield
    aws.client.cache_clear()


def test_missing_credentials_say_how_to_provide_them(no_credentials, tmp_path, capsys):
    config = tmp_path / "shipline.yml"
    config.write_text(ONE_SERVICE)

    code = main(["history", "-e", "staging", "--config", str(config)])

    out, err = capsys.readouterr()
    assert code == 2, err  # refused: nothing was asked of AWS
    assert out == ""
    [line] = err.splitlines()
    assert line.startswith("shipline: error: no AWS credentials found: set AWS_PROFILE"), line
    assert "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY" in line
