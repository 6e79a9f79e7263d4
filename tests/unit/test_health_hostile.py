"""Health checks against hostile servers on loopback: every request ends by the clock, reads
little, and stops when asked (issue 12, finding 2)."""

from __future__ import annotations

import json
import re
import socket
import threading

import pytest

from shipline.config import HealthSettings
from shipline.release.health import BODY_LIMIT, HealthCheck, verify
from shipline.release.stopping import Interrupted, StopSignal
from support.hostile_http import answer, hostile_server, huge_body, send, silent, trickle

HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n"
BODY = b'{"status": "ok", "padding": "xxxxxxxxx"}'  # 40 bytes
# Each byte comes well within request_timeout: per-read timeouts never fire.
SLOW = HealthSettings(timeout=1.0, interval=0.05, successes=1, request_timeout=0.6)


def _head_then_trickled_body(conn, record, server):
    """The head at once, then the body one byte every 0.25 s (10 s)."""
    send(conn, record, HEAD)
    trickle(BODY, 0.25)(conn, record, server)


def test_a_server_trickling_its_head_is_cut_off_at_the_request_deadline():
    # The status line and headers one byte every 0.1 s: no single read ever times out.
    with hostile_server(trickle(HEAD + BODY, 0.1)) as server:
        [result] = verify([HealthCheck("api", server.url)], SLOW)
    assert not result.ok and result.status is None
    assert "no complete answer within" in (result.error or "")
    assert server.connections, "the check never connected"
    # Every request was cut off before the trickle could finish (it would take 11 s).
    assert not any(c.completed for c in server.connections)
    assert all(c.sent < len(HEAD) for c in server.connections)


def test_a_trickled_body_is_not_waited_for_when_only_the_status_counts():
    with hostile_server(_head_then_trickled_body) as server:
        [result] = verify([HealthCheck("api", server.url)], SLOW)
    assert result.ok and result.status == 200
    [connection] = server.connections
    assert not connection.completed, "the check waited for a body it does not need"


def test_a_trickled_body_that_must_be_read_is_cut_off_at_the_request_deadline():
    with hostile_server(_head_then_trickled_body) as server:
        [result] = verify([HealthCheck("api", server.url, {"status": "ok"})], SLOW)
    assert not result.ok and result.status == 200
    assert "no complete answer within" in (result.error or "")
    assert not any(c.completed for c in server.connections)


def test_a_huge_body_is_not_read_when_only_the_status_counts():
    declared = 1536 * 1024 * 1024  # 1.5 GiB announced
    streamed = 256 * 1024 * 1024  # what the server would push if the client read it all
    with hostile_server(huge_body(declared, streamed)) as server:
        settings = HealthSettings(timeout=5, interval=0.05, successes=2, request_timeout=5)
        [result] = verify([HealthCheck("api", server.url)], settings)
    assert result.ok and result.status == 200
    # The client closed after the head: only what fits in loopback socket buffers got out.
    assert server.most_sent() < 32 * 1024 * 1024
    assert all(not c.completed for c in server.connections)


def test_a_body_check_reads_at_most_the_cap_and_fails_on_a_huge_body():
    with hostile_server(huge_body(1536 * 1024 * 1024, 256 * 1024 * 1024)) as server:
        settings = HealthSettings(timeout=3, interval=10, successes=1, request_timeout=3)  # one try
        [result] = verify([HealthCheck("api", server.url, {"status": "ok"})], settings)
    assert not result.ok
    assert f"body over {BODY_LIMIT // 1024} KiB" in (result.error or "")
    assert server.most_sent() < 32 * 1024 * 1024


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b'{"status": "error"}', 'body "status" is "error", expected "ok"'),
        (b'{"state": "ok"}', 'body has no "status"'),
        (b"<html>ok</html>", "body is not JSON"),
        (b'["ok"]', "body is not a JSON object"),
        (b'{"status": "' + b"e" * 500 + b'"}', '"status" is "eeee'),
    ],
)
def test_a_200_whose_body_does_not_say_ok_is_unhealthy(body, why):
    with hostile_server(answer(200, body)) as server:
        settings = HealthSettings(timeout=1, interval=10, successes=1, request_timeout=1)  # one try
        [result] = verify([HealthCheck("web", server.url, {"status": "ok"})], settings)
    assert not result.ok and result.status == 200
    assert why in (result.error or "")
    assert len(result.error or "") < 300, "a body value is quoted short"


def test_a_200_whose_body_says_ok_is_healthy():
    body = json.dumps({"status": "ok", "service": "web", "version": "1.2.3"}).encode()
    with hostile_server(answer(200, body)) as server:
        settings = HealthSettings(timeout=2, interval=0.05, successes=2, request_timeout=1)
        [result] = verify([HealthCheck("web", server.url, {"status": "ok"})], settings)
    assert result.ok and result.attempts == 2


def test_a_server_that_never_answers_is_given_up_at_the_verification_deadline():
    with hostile_server(silent(hold=20)) as server:
        # request_timeout alone would let one request wait 30 s.
        settings = HealthSettings(timeout=0.5, interval=0.05, successes=1, request_timeout=30)
        [result] = verify([HealthCheck("api", server.url)], settings)
    assert not result.ok and result.status is None
    assert "no complete answer" in (result.error or "")
    # verify returned long before the 20 s hold ended.
    assert server.connections and not any(c.completed for c in server.connections)


def test_a_stop_request_cuts_a_blocked_read_off():
    """The read of the head is blocked on a server sending one byte every 0.25 s (about
    28 s in all): a stop must not wait for it."""
    with hostile_server(trickle(HEAD + BODY, 0.25)) as server:
        stop = StopSignal()
        slow = HealthSettings(timeout=60, interval=0.05, successes=1, request_timeout=30)

        def stop_when_connected() -> None:
            if server.connected.wait(10):
                stop.request("SIGTERM")

        threading.Thread(target=stop_when_connected, daemon=True).start()
        with pytest.raises(Interrupted, match="SIGTERM"):
            verify([HealthCheck("api", server.url)], slow, stop=stop)
        [connection] = server.connections
    assert not connection.completed, "verification waited for the trickle to end"


def test_a_stop_request_cuts_a_tls_handshake_off():
    """An https URL whose server never answers the handshake: the socket is already wrapped
    for TLS when the stop comes, and is cut off all the same."""
    with hostile_server(silent(hold=20), raw=True) as server:
        url = server.url.replace("http://", "https://")
        stop = StopSignal()
        slow = HealthSettings(timeout=60, interval=0.05, successes=1, request_timeout=30)

        def stop_when_connected() -> None:
            if server.connected.wait(10):
                stop.request("SIGINT")

        threading.Thread(target=stop_when_connected, daemon=True).start()
        with pytest.raises(Interrupted, match="SIGINT"):
            verify([HealthCheck("api", url)], slow, stop=stop)
        [connection] = server.connections
    assert not connection.completed, "verification waited for the 20 s hold to end"


def test_a_proxy_named_by_http_proxy_is_asked_for_the_whole_url(monkeypatch):
    with hostile_server(answer(200, b'{"status": "ok"}')) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url.rsplit("/health", 1)[0])
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        url = "http://app.internal.test/health/ready"
        settings = HealthSettings(timeout=2, interval=0.05, successes=1, request_timeout=1)
        [result] = verify([HealthCheck("web", url, {"status": "ok"})], settings)
    assert result.ok, result.error
    assert proxy.connections[0].request.startswith(b"GET " + url.encode() + b" HTTP/1.1\r\n")


def test_a_long_health_wait_prints_each_url_attempts_and_last_answer():
    """Issue 15, item 3: the checks' heartbeat says how far each URL got, while it waits."""
    with socket.create_server(("127.0.0.1", 0)) as probe:
        refused = f"http://127.0.0.1:{probe.getsockname()[1]}/up"  # closed once this ends
    settings = HealthSettings(
        timeout=1.0, interval=0.05, successes=1, request_timeout=0.3, heartbeat=0.25
    )
    lines: list[str] = []
    with hostile_server(answer(503, b"{}")) as failing, hostile_server(silent(5)) as hanging:
        checks = [
            HealthCheck("api", refused),
            HealthCheck("web", failing.url),
            HealthCheck("worker", hanging.url),
        ]
        results = verify(checks, settings, report=lines.append)
    beats = [line for line in lines if line.startswith("waiting ")]
    assert 2 <= len(beats) <= 4, lines  # one every 0.25 s of a 1 s wait
    shape = re.compile(
        r"waiting [\d.]+s/1s: "
        rf"api: (?P<api>\d+) attempts?, last connection refused to {re.escape(refused)}; "
        r"web: (?P<web>\d+) attempts?, last HTTP 503; "
        r"worker: (?:no answer yet|(?P<worker>\d+) attempts?, last timed out: .*)"
    )
    matches = [shape.fullmatch(line) for line in beats]
    assert all(matches), beats
    final = {result.service: result.attempts for result in results}
    for key in ("api", "web"):  # the attempts grow, and never past what the checks made
        counts = [int(m[key]) for m in matches if m]
        assert counts == sorted(counts) and counts[-1] <= final[key], (key, beats)
