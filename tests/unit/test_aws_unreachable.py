"""An AWS endpoint that cannot be used ends a command with one line naming it and what to check,
after a bounded number of connections (issue 15, item 3): loopback servers that hang up, never
answer, refuse, or drop the connection attempt, and one that rejects the credentials."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from shipline import aws
from shipline.cli import main
from shipline.errors import EXIT_FAILED, EXIT_REFUSED
from support.configs import ONE_SERVICE
from support.hostile_http import answer, hostile_server, silent

DIGEST = "sha256:" + "a" * 64  # a pinned image: the deploy asks no registry


@pytest.fixture
def config(tmp_path, monkeypatch) -> Iterator[str]:
    path = tmp_path / "shipline.yml"
    path.write_text(ONE_SERVICE)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "HTTP_PROXY", "HTTPS_PROXY", "GITHUB_ACTIONS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("GITHUB_OUTPUT", raising=False)
    aws.client.cache_clear()
    yield str(path)
    aws.client.cache_clear()


def hang_up(conn, record, server) -> None:
    """Read the request, then close the connection without a word."""


def run(capsys, endpoint: str, monkeypatch, *argv: str, config: str) -> tuple[int, str, str]:
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    capsys.readouterr()
    code = main([*argv, "--config", config])
    out, err = capsys.readouterr()
    return code, out, err


def last_line(err: str) -> str:
    return err.strip().splitlines()[-1]


def test_an_endpoint_that_hangs_up_ends_the_deploy_refused_after_two_connections(
    config, capsys, monkeypatch
):
    with hostile_server(hang_up, path="") as server:
        code, out, err = run(
            capsys, server.url, monkeypatch, "deploy", "-e", "staging", "--image",
            f"api=registry.example/app@{DIGEST}", config=config,
        )  # fmt: skip
        connections = len(server.connections)
    # Botocore's defaults would open 12 connections, with up to 20 s of backoff between them.
    assert connections == 2
    assert code == EXIT_REFUSED, err
    assert out == ""
    line = last_line(err)
    assert line.startswith(f"shipline: error: AWS endpoint {server.url} is unreachable"), line
    assert "closed without an answer" in line and "check AWS_ENDPOINT_URL" in line


def test_an_endpoint_that_never_answers_gives_up_after_two_read_timeouts(
    config, capsys, monkeypatch
):
    monkeypatch.setattr(aws, "READ_TIMEOUT", 0.3)
    with hostile_server(silent(5), path="") as server:
        code, _, err = run(
            capsys, server.url, monkeypatch, "history", "-e", "staging", config=config
        )
        connections = len(server.connections)
    assert code == EXIT_FAILED, err
    line = last_line(err)
    assert line == (
        f"shipline: error: AWS endpoint {server.url} is unreachable (no answer within 0.3s): "
        "check AWS_ENDPOINT_URL (unset it for AWS itself), AWS_REGION, and the network or proxy "
        "between this machine and AWS"
    )
    assert connections == 2


def test_a_closed_port_is_named_in_one_line_without_the_request_url(config, capsys, monkeypatch):
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    endpoint = f"http://127.0.0.1:{port}"  # nothing listens there any more

    code, out, err = run(
        capsys, endpoint, monkeypatch, "deploy", "-e", "staging", "--image",
        f"api=registry.example/app@{DIGEST}", config=config,
    )  # fmt: skip

    assert code == EXIT_REFUSED, err
    assert out == ""
    line = last_line(err)
    assert line.startswith(
        f"shipline: error: AWS endpoint {endpoint} is unreachable (could not connect): "
    ), line
    assert "my-releases" not in line  # the request's path and query are not the endpoint


def test_an_endpoint_that_drops_connection_attempts_ends_at_the_connect_timeout(
    config, capsys, monkeypatch
):
    monkeypatch.setattr(aws, "CONNECT_TIMEOUT", 0.3)
    # A listener that never accepts, its queue full: Linux drops further connection attempts.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        endpoint = f"http://127.0.0.1:{listener.getsockname()[1]}"
        fillers = [socket.socket() for _ in range(4)]
        for filler in fillers:
            filler.setblocking(False)
            filler.connect_ex(listener.getsockname())
        try:
            code, _, err = run(
                capsys, endpoint, monkeypatch, "history", "-e", "staging", config=config
            )
        finally:
            for filler in fillers:
                filler.close()
    assert code == EXIT_FAILED, err
    assert last_line(err).startswith(
        f"shipline: error: AWS endpoint {endpoint} is unreachable (no connection within 0.3s): "
    ), err


# AWS's answers to an expired session token: S3's XML, ECS's JSON (awsJson1_1).
EXPIRED_XML = (
    b"<?xml version='1.0' encoding='UTF-8'?><Error><Code>ExpiredToken</Code>"
    b"<Message>The provided token has expired.</Message></Error>"
)
EXPIRED_JSON = (
    b'{"__type":"ExpiredTokenException",'
    b'"message":"The security token included in the request is expired"}'
)


def expired_token(conn, record, server) -> None:
    if b"x-amz-target:" in record.request.lower():
        answer(400, EXPIRED_JSON, "application/x-amz-json-1.1")(conn, record, server)
    else:
        answer(400, EXPIRED_XML, "application/xml")(conn, record, server)


@pytest.mark.parametrize(
    ("command", "code", "expired"),
    [
        # the deploy's preflight reads ECS first: refused, nothing changed
        (["deploy", "-e", "staging", "--image", f"api=r.example/app@{DIGEST}"], EXIT_REFUSED,
         "ExpiredTokenException"),
        (["history", "-e", "staging"], EXIT_FAILED, "ExpiredToken"),  # reads S3
    ],
)  # fmt: skip
def test_expired_credentials_say_how_to_renew_them_and_are_not_retried(
    config, capsys, monkeypatch, command, code, expired
):
    with hostile_server(expired_token, path="") as server:
        exit_code, _, err = run(capsys, server.url, monkeypatch, *command, config=config)
        connections = len(server.connections)
    assert exit_code == code, err
    line = last_line(err)
    assert line.startswith(
        f"shipline: error: AWS credentials have expired ({expired}): renew them (`aws sso login`"
    ), line
    assert connections == 1


def test_once_the_endpoint_answered_a_lost_connection_gets_the_retry_modes_attempts(
    config, monkeypatch
):
    """Fail fast is for an endpoint never reached: mid-release, a dropped connection is a blip
    and is retried as botocore's retry mode says (SHIPLINE_AWS_MAX_ATTEMPTS)."""
    monkeypatch.setenv("SHIPLINE_AWS_RETRY_MODE", "standard")
    monkeypatch.setenv("SHIPLINE_AWS_MAX_ATTEMPTS", "3")
    answered = answer(200, b'{"clusterArns": []}', "application/x-amz-json-1.1")

    def first_answers_then_hang_up(conn, record, server) -> None:
        if server.connections[0] is record:
            answered(conn, record, server)

    with hostile_server(first_answers_then_hang_up, path="") as server:
        monkeypatch.setenv("AWS_ENDPOINT_URL", server.url)
        ecs = aws.client("ecs", "us-east-1")
        assert ecs.list_clusters()["clusterArns"] == []
        with pytest.raises(Exception) as lost:
            ecs.list_clusters()
        connections = len(server.connections)
    assert "closed without an answer" in (aws.unusable(lost.value) or "")
    # The answered call, then three attempts in all: SHIPLINE_AWS_MAX_ATTEMPTS counts the first
    # attempt too (botocore's `total_max_attempts`, its Config docs).
    assert connections == 1 + 3


def test_an_unreachable_proxy_is_named_without_its_password(config, capsys, monkeypatch):
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]  # nothing listens there once this ends
    monkeypatch.setenv("HTTP_PROXY", f"http://deployer:s3cret-pass@127.0.0.1:{port}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)

    code, _, err = run(
        capsys, "http://127.0.0.1:9", monkeypatch, "history", "-e", "staging", config=config
    )

    assert code == EXIT_FAILED, err
    assert last_line(err) == (
        f"shipline: error: cannot connect to the proxy http://127.0.0.1:{port}: check "
        "HTTPS_PROXY / HTTP_PROXY and NO_PROXY"
    )
    assert "s3cret-pass" not in err
