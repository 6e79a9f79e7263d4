"""The sandbox's HTTP side: moto's WSGI app plus the scheduler, call counting, injected faults
and /_sim routes.

`running_sandbox()` serves it with werkzeug's threaded server on a thread of this process and
yields the endpoint; `shipline sim` and `shipline demo` both use it.
"""

from __future__ import annotations

import io
import json
import logging
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import BaseWSGIServer, make_server

from shipline.errors import UsageError
from shipline.sim import moto_hooks
from shipline.sim.calls import CallCounter, call_name
from shipline.sim.faults import Fault, FaultInjector, error_answer, protocol_of
from shipline.sim.policy import Policy, PolicyFile
from shipline.sim.scheduler import Scheduler

StartResponse = Callable[..., Any]
Environ = dict[str, Any]

HEALTH_PREFIX = "/_sim/health/"
SHUTDOWN_POLL_SECONDS = 0.05  # how often the serving thread looks for a shutdown request
HOLD_POLL_SECONDS = 0.05  # how often a held request looks whether its hold was shortened


def stderr_line(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def _request_headers(environ: Environ) -> dict[str, str]:
    headers = {
        key[5:].replace("_", "-").lower(): str(value)
        for key, value in environ.items()
        if key.startswith("HTTP_")
    }
    if environ.get("CONTENT_TYPE"):
        headers["content-type"] = environ["CONTENT_TYPE"]
    return headers


def _form_body(environ: Environ) -> dict[str, list[str]] | None:
    """The decoded body of a form-encoded (query protocol) request; the stream is restored."""
    if not str(environ.get("CONTENT_TYPE", "")).startswith("application/x-www-form-urlencoded"):
        return None
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)


class SimApplication:
    """WSGI: /_sim routes here, everything else to moto after the scheduler caught up."""

    def __init__(self, policy_file: PolicyFile, log: Callable[[str], None] = stderr_line) -> None:
        self.policy_file = policy_file
        self.counter = CallCounter()
        self.faults = CallCounter()  # faults injected, by call (or health endpoint) and answer
        self.scheduler = Scheduler(policy=policy_file.current, log=log)
        self.moto = DomainDispatcherApplication(create_backend_app)
        self._injector_lock = threading.Lock()
        self._injector_policy: Policy | None = None
        self._injector = FaultInjector(Policy().faults)

    def _current_injector(self) -> FaultInjector:
        """The injector of the current policy; a changed policy starts its draws afresh."""
        with self.scheduler.lock:
            policy = self.policy_file.current()
        with self._injector_lock:
            if policy is not self._injector_policy:
                self._injector_policy = policy
                self._injector = FaultInjector(policy.faults)
            return self._injector

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET").upper()
        if path.startswith("/_sim/"):
            return self._sim_route(method, path, start_response)
        if path.startswith("/moto-api"):
            return self._moto_api(method, path, environ, start_response)
        headers = _request_headers(environ)
        form = _form_body(environ)
        name = call_name(method, path, environ.get("QUERY_STRING", ""), headers, form)
        if name is not None:
            self.counter.record(name)
            delay, fault = self._current_injector().for_call(name)
            if delay:
                self._hold(lambda: self._current_injector().rules.for_operation(name).delay_seconds)
            if fault is not None:
                form_action = bool(form and form.get("Action")) or "Action=" in environ.get(
                    "QUERY_STRING", ""
                )
                return self._fault(
                    start_response, name, fault, protocol_of(name, headers, form_action)
                )
        with self.scheduler.lock:
            self.policy_file.current()
            self.scheduler.advance()
            return self._complete(self.moto(environ, start_response))

    @staticmethod
    def _complete(response: Iterable[bytes]) -> list[bytes]:
        """Read moto's whole answer while the lock is held."""
        try:
            return list(response)
        finally:
            close = getattr(response, "close", None)
            if close is not None:
                close()

    def _moto_api(
        self, method: str, path: str, environ: Environ, start_response: StartResponse
    ) -> Iterable[bytes]:
        with self.scheduler.lock:
            body = self._complete(self.moto(environ, start_response))
            if method == "POST" and path.rstrip("/") == "/moto-api/reset":
                self.scheduler.reset()
                moto_hooks.hold_task_states()
                with self._injector_lock:
                    self._injector_policy = None  # the next call draws from the seed again
            return body

    def _sim_route(self, method: str, path: str, start_response: StartResponse) -> Iterable[bytes]:
        if path == "/_sim/calls" and method == "GET":
            return self._json(start_response, 200, self.counter.snapshot())
        if path == "/_sim/faults" and method == "GET":
            return self._json(start_response, 200, self.faults.snapshot())
        if path == "/_sim/calls/reset" and method == "POST":
            self.counter.reset()
            self.faults.reset()
            return self._json(start_response, 200, {"status": "ok"})
        if path.startswith(HEALTH_PREFIX) and method in ("GET", "HEAD"):
            parts = path[len(HEALTH_PREFIX) :].strip("/").split("/")
            if len(parts) == 2 and all(parts):
                return self._health(start_response, parts[0], parts[1])
        return self._json(
            start_response, 404, {"status": "unknown", "reason": f"no route {method} {path}"}
        )

    @staticmethod
    def _hold(seconds: Callable[[], float]) -> None:
        """Hold a request for `seconds()`, read again as it waits (a policy change shortens a
        hold in progress, like converge_seconds). Outside the lock: other clients go on."""
        started = time.monotonic()
        while True:
            remaining = seconds() - (time.monotonic() - started)
            if remaining <= 0:
                return
            time.sleep(min(remaining, HOLD_POLL_SECONDS))

    def _health(self, start_response: StartResponse, cluster: str, service: str) -> list[bytes]:
        hang_seconds, flapped = self._current_injector().for_health(cluster, service)
        if hang_seconds:
            self.faults.record(f"health {cluster}/{service} hang")
            self._hold(lambda: self._current_injector().rules.for_health(service).hang_seconds)
        with self.scheduler.lock:
            self.policy_file.current()
            self.scheduler.advance()
            status, body = self.scheduler.health(cluster, service)
        if flapped and status == 200:
            self.faults.record(f"health {cluster}/{service} 503")
            status = 503
            body = {**body, "status": "unavailable", "reasons": ["injected: flapping"]}
        return self._json(start_response, status, body)

    def _fault(
        self, start_response: StartResponse, name: str, fault: Fault, protocol: str
    ) -> list[bytes]:
        answer = error_answer(fault, protocol)
        self.faults.record(f"{name} {answer.status} {answer.code}")
        length = ("Content-Length", str(len(answer.body)))
        start_response(f"{answer.status} Injected", [*answer.headers, length])
        return [answer.body]

    @staticmethod
    def _json(start_response: StartResponse, status: int, body: Any) -> list[bytes]:
        payload = json.dumps(body, sort_keys=True).encode("utf-8")
        reason = {200: "OK", 404: "Not Found", 503: "Service Unavailable"}.get(status, "")
        start_response(
            f"{status} {reason}",
            [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))],
        )
        return [payload]


@dataclass
class Sandbox:
    """A running sandbox: its endpoint and its parts (for in-process use such as the demo)."""

    url: str
    app: SimApplication

    def health_url(self, cluster: str, service: str) -> str:
        return f"{self.url}{HEALTH_PREFIX}{cluster}/{service}"


class _QuietHandler(MotoRequestHandler):
    """moto's request handler without a log line per request."""

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


def _listen(host: str, port: int) -> socket.socket:
    """The listening socket; a port in use is the user's problem (one line, exit 2)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
        listener.listen(128)
    except OSError as exc:
        listener.close()
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return listener


@contextmanager
def running_sandbox(
    host: str = "127.0.0.1",
    port: int = 0,
    policy_path: Path | None = None,
    log: Callable[[str], None] = stderr_line,
) -> Iterator[Sandbox]:
    """Serve the sandbox on a thread of this process for the duration of the block.

    One sandbox per process: it wraps moto's ECS classes. An invalid policy raises PolicyError
    before anything starts.
    """
    policy_file = PolicyFile(policy_path, log)
    app = SimApplication(policy_file, log)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    listener = _listen(host, port)
    with listener, moto_hooks.installed(app.scheduler):
        server: BaseWSGIServer = make_server(
            host, port, app, threaded=True, request_handler=_QuietHandler, fd=listener.fileno()
        )
        # Idle keep-alive connections must not hold up the shutdown.
        server.daemon_threads = True  # type: ignore[attr-defined]
        server.block_on_close = False  # type: ignore[attr-defined]
        thread = threading.Thread(
            target=server.serve_forever,
            args=(SHUTDOWN_POLL_SECONDS,),
            name="shipline-sim",
            daemon=True,
        )
        thread.start()
        bound_host, bound_port = server.server_address[:2]
        shown_host = f"[{bound_host}]" if ":" in str(bound_host) else bound_host
        try:
            yield Sandbox(url=f"http://{shown_host}:{bound_port}", app=app)
        finally:
            server.shutdown()
            thread.join()
            server.server_close()
