"""Health verification against a real local HTTP server (no mocked HTTP)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import pytest

from shipline.config import HealthSettings
from shipline.release.health import HealthCheck, verify
from shipline.release.stopping import Interrupted, StopSignal
from support.loopback import http_server

FAST = HealthSettings(timeout=3.0, interval=0.02, successes=3, request_timeout=1.0)


class Endpoints:
    """Answers per path: a list of statuses played in order (the last one repeats)."""

    def __init__(self) -> None:
        self.script: dict[str, list[int]] = {}
        self.seen: dict[str, int] = {}
        self.barrier = threading.Barrier(2, timeout=2)
        self.lock = threading.Lock()

    def answer(self, path: str) -> int:
        with self.lock:
            count = self.seen.get(path, 0)
            self.seen[path] = count + 1
        if path.startswith("/together/") and count == 0:
            try:
                self.barrier.wait()  # both URLs must be asked at the same time
            except threading.BrokenBarrierError:
                return 500
        statuses = self.script.get(path, [404])
        return statuses[min(count, len(statuses) - 1)]


@pytest.fixture
def server() -> Iterator[tuple[str, Endpoints]]:
    endpoints = Endpoints()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status = endpoints.answer(self.path)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    with http_server(Handler, poll=0.02) as httpd:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", endpoints


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_url_is_healthy_after_the_configured_successes_in_a_row(server):
    base, endpoints = server
    endpoints.script["/ok"] = [200]
    [result] = verify([HealthCheck("api", base + "/ok")], FAST)
    assert result.ok and result.status == 200 and result.attempts == 3
    assert result.to_record() == {
        "service": "api",
        "url": base + "/ok",
        "ok": True,
        "status": 200,
        "attempts": 3,
        "error": None,
    }


def test_a_failure_resets_the_count(server):
    base, endpoints = server
    endpoints.script["/flaky"] = [200, 200, 503, 200, 200, 200]
    [result] = verify([HealthCheck("web", base + "/flaky")], FAST)
    assert result.ok and result.attempts == 6


def test_an_unhealthy_url_fails_at_the_deadline_with_its_last_status(server):
    base, endpoints = server
    endpoints.script["/down"] = [503]
    settings = HealthSettings(timeout=0.3, interval=0.05, successes=2, request_timeout=0.2)
    [result] = verify([HealthCheck("web", base + "/down")], settings)
    assert not result.ok and result.status == 503 and result.attempts >= 2
    assert "HTTP 503" in (result.error or "")


def test_connection_errors_are_retried_until_the_deadline():
    url = f"http://127.0.0.1:{free_port()}/health/ready"
    settings = HealthSettings(timeout=0.4, interval=0.05, successes=1, request_timeout=0.2)
    [result] = verify([HealthCheck("api", url)], settings)
    assert not result.ok and result.status is None
    assert result.attempts >= 3, "a refused connection must be tried again"
    assert (result.error or "").endswith(f": connection refused to {url}"), result.error


def test_all_urls_are_checked_at_the_same_time(server):
    base, endpoints = server
    endpoints.script["/together/a"] = [200]
    endpoints.script["/together/b"] = [200]
    results = verify(
        [HealthCheck("api", base + "/together/a"), HealthCheck("web", base + "/together/b")],
        FAST,
    )
    # Each first request waits for the other one: checked one after the other, both would 500.
    assert [r.service for r in results] == ["api", "web"]
    assert all(r.ok and r.attempts == 3 for r in results)


def test_a_stop_request_ends_verification_as_interrupted(server):
    base, endpoints = server
    endpoints.script["/down"] = [503]
    stop = StopSignal()
    timer = threading.Timer(0.2, stop.request, args=("SIGTERM",))
    timer.start()
    slow = HealthSettings(timeout=30, interval=0.05, successes=1, request_timeout=1)
    with pytest.raises(Interrupted, match="SIGTERM"):
        verify([HealthCheck("web", base + "/down")], slow, stop=stop)
