"""Verify a release over HTTP: each health URL must answer 2xx several times in a row.

All URLs are checked at once (one thread each), so verifying three services takes as long as
the slowest one. A connection error or a non-2xx answer resets the count and is retried until
the deadline. Each request is bounded by the clock, not per read: connecting and the whole
answer must fit in `request_timeout` (and in what is left of `timeout`), and a stop request
ends it at once. A guard thread cuts the connection off for that, so a server that trickles
bytes cannot keep a read blocked. At most BODY_LIMIT bytes of a body are read, and only when
the check asserts fields of the JSON body (`expect`).
"""

from __future__ import annotations

import base64
import http.client
import json
import socket
import ssl
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait as wait_for_any
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from shipline.config import HealthSettings, Service
from shipline.release.heartbeat import Heartbeat, UrlProgress, health_where, heartbeat_line
from shipline.release.stopping import Interrupted, StopSignal

BODY_LIMIT = 64 * 1024  # bytes of a health body read at most (docs/shipline-yml.md)
GUARD_POLL = 0.05  # seconds between the guard's looks at the clock and the stop signal
_SHOWN_VALUE = 60  # characters of a body value quoted in an error


@dataclass(frozen=True)
class HealthCheck:
    service: str  # the service key the URL checks
    url: str
    expect: Mapping[str, Any] = field(default_factory=dict)  # JSON body field -> value


@dataclass(frozen=True)
class HealthResult:
    service: str
    url: str
    ok: bool
    status: int | None  # the last HTTP status; None when no answer came
    attempts: int
    error: str | None = None

    def to_record(self) -> dict[str, Any]:
        """The release record's `health` item."""
        return asdict(self)


def checks_for(services: Mapping[str, Service], keys: Iterable[str]) -> list[HealthCheck]:
    """The health checks of the services `keys` that have a health URL, in that order."""
    return [
        HealthCheck(key, str(services[key].health), services[key].health_expect)
        for key in keys
        if services[key].health
    ]


def verify(
    checks: Iterable[HealthCheck],
    settings: HealthSettings,
    *,
    stop: StopSignal | None = None,
    report: Callable[[str], None] = lambda line: None,
) -> list[HealthResult]:
    """Check every URL concurrently; results in the order of `checks`. Every
    `settings.heartbeat` seconds a line gives the elapsed time and each URL's attempts so far."""
    checks = list(checks)
    if not checks:
        return []
    stop = stop or StopSignal()
    progress = [UrlProgress(check.service) for check in checks]
    pace = Heartbeat(settings.heartbeat)

    def beat() -> None:
        report(heartbeat_line(pace.elapsed(), settings.timeout, health_where(progress)))

    with ThreadPoolExecutor(max_workers=len(checks)) as pool:
        futures = [
            pool.submit(_check_one, check, settings, stop, report, url)
            for check, url in zip(checks, progress, strict=True)
        ]
        unfinished = set(futures)
        while unfinished:
            _, unfinished = wait_for_any(
                unfinished, timeout=max(0.0, pace.next_at() - pace.clock())
            )
            if unfinished:
                pace.beat(beat)
        results = [future.result() for future in futures]
    stop.check()  # a check cut short by a stop request is not a verdict
    return results


def _check_one(
    check: HealthCheck,
    settings: HealthSettings,
    stop: StopSignal,
    report: Callable[[str], None],
    progress: UrlProgress,
) -> HealthResult:
    deadline = time.monotonic() + settings.timeout
    in_a_row = attempts = 0
    status: int | None = None
    error: str | None = None
    while not stop.is_set():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        attempts += 1
        status, error = probe(check, min(settings.request_timeout, remaining), stop)
        progress.attempts, progress.last = attempts, error or f"HTTP {status}"
        if error is None and status is not None and 200 <= status < 300:
            in_a_row += 1
            if in_a_row >= settings.successes:
                progress.healthy = True
                report(f"{check.service}: healthy ({check.url} answered {status} x{in_a_row})")
                return HealthResult(check.service, check.url, True, status, attempts)
        else:
            if in_a_row or attempts == 1:
                report(f"{check.service}: not healthy yet ({error or status})")
            in_a_row = 0
            error = error or f"HTTP {status}"
        try:
            stop.sleep(min(settings.interval, max(0.0, deadline - time.monotonic())))
        except Interrupted:
            break
    reason = error or f"HTTP {status}"
    report(f"{check.service}: UNHEALTHY after {attempts} attempts: {reason} ({check.url})")
    return HealthResult(
        check.service,
        check.url,
        False,
        status,
        attempts,
        f"not {settings.successes} 2xx answers in a row within {settings.timeout:g}s: {reason}",
    )


def probe(check: HealthCheck, seconds: float, stop: StopSignal) -> tuple[int | None, str | None]:
    """One GET within `seconds` of wall-clock time: (status, None) when the answer is healthy
    or not 2xx, (status or None, why) when it failed otherwise."""
    connection, target, headers = request_for(check.url, seconds)
    guard = DeadlineGuard(time.monotonic() + seconds, stop)
    late = f"timed out: no complete answer within {round(seconds, 1):g}s"
    connection._create_connection = guard.connect  # type: ignore[attr-defined]
    watcher = threading.Thread(target=guard.watch, name="health-guard", daemon=True)
    watcher.start()
    status: int | None = None
    try:
        connection.request("GET", target, headers=headers)
        answer = connection.getresponse()
        status = answer.status
        if not check.expect or not 200 <= status < 300:
            return status, None
        body = answer.read(BODY_LIMIT + 1)
        if guard.cut:  # a cut connection ends a read early, without an error
            return status, "stopped" if guard.stopped else late
        return status, body_problem(body, check.expect)
    except (OSError, http.client.HTTPException, ValueError) as exc:
        if guard.stopped:
            return status, "stopped"
        if guard.cut or isinstance(exc, TimeoutError):
            return status, late
        if isinstance(exc, ConnectionRefusedError):  # plainer than "[Errno 111] ..."
            return status, f"connection refused to {check.url}"
        return status, _one_line(exc)
    finally:
        guard.finish()
        connection.close()


def request_for(url: str, seconds: float) -> tuple[http.client.HTTPConnection, str, dict[str, str]]:
    """The connection, request target and headers for a request to `url`: through the proxy that
    HTTP_PROXY / HTTPS_PROXY name, unless NO_PROXY exempts the host (as requests does)."""
    parts = urlsplit(url)
    secure = parts.scheme == "https"
    host, port = parts.hostname or "", parts.port or (443 if secure else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    headers = {"User-Agent": "shipline", "Accept": "*/*"}
    proxy = urllib.request.getproxies().get(parts.scheme)
    if proxy and not urllib.request.proxy_bypass(host):
        via = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        credentials = {}
        if via.username:
            pair = f"{unquote(via.username)}:{unquote(via.password or '')}".encode()
            credentials["Proxy-Authorization"] = "Basic " + base64.b64encode(pair).decode()
        host_of_proxy, port_of_proxy = via.hostname or "", via.port or 80
        if not secure:  # a plain request names the whole URL to the proxy
            plain = http.client.HTTPConnection(host_of_proxy, port_of_proxy, timeout=seconds)
            return plain, url, {**headers, **credentials}
        tunnel = http.client.HTTPSConnection(
            host_of_proxy, port_of_proxy, timeout=seconds, context=ssl.create_default_context()
        )
        tunnel.set_tunnel(host, port, headers=credentials)  # TLS to `host` inside CONNECT
        return tunnel, target, headers
    if secure:
        direct = http.client.HTTPSConnection(
            host, port, timeout=seconds, context=ssl.create_default_context()
        )
        return direct, target, headers
    return http.client.HTTPConnection(host, port, timeout=seconds), target, headers


def body_problem(body: bytes, expect: Mapping[str, Any]) -> str | None:
    """Why a 2xx body does not say healthy: it must be a JSON object (within BODY_LIMIT bytes)
    whose fields have the expected values. None when it does."""
    if len(body) > BODY_LIMIT:
        return f"body over {BODY_LIMIT // 1024} KiB, not read"
    try:
        document = json.loads(body)
    except ValueError:
        return "body is not JSON"
    if not isinstance(document, dict):
        return "body is not a JSON object"
    for name, wanted in expect.items():
        if name not in document:
            return f"body has no {json.dumps(name)}"
        found = document[name]
        if found != wanted or type(found) is not type(wanted):
            return f"body {json.dumps(name)} is {_shown(found)}, expected {_shown(wanted)}"
    return None


def _shown(value: Any) -> str:
    """A body value quoted on one line, cut short (it is the server's text, not ours)."""
    text = json.dumps(value, ensure_ascii=True)
    return text if len(text) <= _SHOWN_VALUE else text[: _SHOWN_VALUE - 3] + "..."


class DeadlineGuard:
    """Cuts one request's connection off at its deadline or on a stop request.

    The connection's socket is shut down from this thread, which ends a read or connect
    blocked in the checking thread at once, however slowly the server sends.
    """

    def __init__(self, deadline: float, stop: StopSignal) -> None:
        self.deadline = deadline
        self.stop = stop
        self.cut = self.stopped = False
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._sockets: dict[int, tuple[int, int]] = {}  # descriptor -> (family, type)

    def connect(
        self,
        address: tuple[str, int],
        timeout: float | None = None,
        source_address: tuple[str, int] | None = None,
    ) -> socket.socket:
        """socket.create_connection, with every socket known to the guard before it connects."""
        host, port = address
        problem: OSError | None = None
        for family, kind, proto, _name, where in socket.getaddrinfo(
            host, port, 0, socket.SOCK_STREAM
        ):
            sock = socket.socket(family, kind, proto)
            descriptor = sock.fileno()
            with self._lock:
                self._sockets[descriptor] = (family, kind)
            try:
                if self.cut:
                    raise TimeoutError("deadline passed before connecting")
                sock.settimeout(timeout)
                if source_address:
                    sock.bind(source_address)
                sock.connect(where)
                return sock
            except OSError as exc:
                problem = exc
                with self._lock:  # a closed descriptor may be reused by another socket
                    del self._sockets[descriptor]
                sock.close()
        raise problem or OSError(f"{host} has no address")

    def watch(self) -> None:
        while not self._done.wait(GUARD_POLL):
            if self.stop.is_set() or time.monotonic() >= self.deadline:
                self._cut_off()
                return

    def finish(self) -> None:
        """The request is over: the guard must not touch its sockets any more."""
        with self._lock:
            self._done.set()

    def _cut_off(self) -> None:
        with self._lock:
            if self._done.is_set():
                return
            self.stopped = self.stop.is_set()
            self.cut = True
            for descriptor, (family, kind) in self._sockets.items():
                # TLS detaches the socket object from its descriptor: shut a duplicate of it.
                try:
                    with socket.fromfd(descriptor, family, kind) as duplicate:
                        duplicate.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


def _one_line(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."
