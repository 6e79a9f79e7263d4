"""SHIPLINE_AWS_RETRY_MODE and SHIPLINE_AWS_MAX_ATTEMPTS are input like any other: a value
botocore would not take is refused with a one-line reason and exit 2, before any AWS call.

botocore's retry modes are `legacy`, `standard` and `adaptive`, and `max_attempts` is a whole
number (botocore's docs, "Retries"; its stubs type `mode` as exactly those three names).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from shipline import aws
from shipline.errors import EXIT_REFUSED, UsageError

CONFIG = Path(__file__).resolve().parents[1] / "fixtures" / "config" / "valid.yml"


@pytest.fixture
def fresh_clients(monkeypatch):
    """No client made by an earlier test, and nowhere to reach but a closed loopback port."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("ECS_CLUSTER_NAME", "app-production")
    monkeypatch.setenv("API_BASE_URL", "https://api.example.com")
    aws.client.cache_clear()
    yield
    aws.client.cache_clear()


@pytest.mark.parametrize("mode", ["legacy", "standard", "adaptive"])
def test_every_botocore_retry_mode_is_taken(mode):
    settings = aws.retry_settings({"SHIPLINE_AWS_RETRY_MODE": mode})
    assert settings == {"mode": mode, "total_max_attempts": aws.MAX_ATTEMPTS}


def test_without_the_variables_the_release_retries_adaptively_12_times():
    assert aws.retry_settings({}) == {"mode": "adaptive", "total_max_attempts": 12}


@pytest.mark.parametrize("mode", ["bogus", "Adaptive", ""])
def test_an_unknown_retry_mode_is_refused_when_a_client_is_made(fresh_clients, monkeypatch, mode):
    monkeypatch.setenv("SHIPLINE_AWS_RETRY_MODE", mode)
    with pytest.raises(UsageError) as refused:
        aws.client("ecs", "us-east-1")
    assert refused.value.exit_code == EXIT_REFUSED
    assert "SHIPLINE_AWS_RETRY_MODE" in refused.value.message
    assert "legacy, standard, adaptive" in refused.value.message


@pytest.mark.parametrize("attempts", ["many", "0", "-3", "2.5", "", "\u0663"])
def test_a_max_attempts_that_is_not_a_whole_number_is_refused(fresh_clients, monkeypatch, attempts):
    monkeypatch.setenv("SHIPLINE_AWS_MAX_ATTEMPTS", attempts)
    with pytest.raises(UsageError) as refused:
        aws.client("ecs", "us-east-1")
    assert refused.value.exit_code == EXIT_REFUSED
    assert "SHIPLINE_AWS_MAX_ATTEMPTS" in refused.value.message


@pytest.mark.parametrize(
    ("variable", "value"),
    [("SHIPLINE_AWS_RETRY_MODE", "bogus"), ("SHIPLINE_AWS_MAX_ATTEMPTS", "many")],
)
def test_a_command_refuses_a_bad_retry_setting_with_exit_2_and_one_line(variable, value):
    """As a user sets it: in the environment the process starts with."""
    environment = {
        **os.environ,
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "ECS_CLUSTER_NAME": "app-production",
        "API_BASE_URL": "https://api.example.com",
        variable: value,
    }
    done = subprocess.run(
        [sys.executable, "-m", "shipline", "history", "-e", "production", "--config", str(CONFIG)],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
        check=False,
    )
    assert done.returncode == EXIT_REFUSED, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert f"{variable} {value!r}" in lines[0]
