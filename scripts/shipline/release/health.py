"""Verify a release over HTTP: each health URL must answer 2xx several times in a row.

All URLs are checked at once (one thread each), so verifying three services takes as long as
the slowest one. A connection error or a non-2xx answer resets the count and is retried until
the deadline; each request has its own timeout, so one hung request cannot eat the deadline.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

from shipline.config import HealthSettings
from shipline.release.stopping import Interrupted, StopSignal


@dataclass(frozen=True)
class HealthCheck:
    service: str  # the service key the URL checks
    url: str


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


def verify(
    checks: Iterable[HealthCheck],
    settings: HealthSettings,
    *,
    stop: StopSignal | None = None,
    report: Callable[[str], None] = lambda line: None,
) -> list[HealthResult]:
    """Check every URL concurrently; results in the order of `checks`."""
    checks = list(checks)
    if not checks:
        return []
    stop = stop or StopSignal()
    with ThreadPoolExecutor(max_workers=len(checks)) as pool:
        futures = [pool.submit(_check_one, check, settings, stop, report) for check in checks]
        results = [future.result() for future in futures]
    stop.check()  # a check cut short by a stop request is not a verdict
    return results


def _check_one(
    check: HealthCheck,
    settings: HealthSettings,
    stop: StopSignal,
    report: Callable[[str], None],
) -> HealthResult:
    import requests

    deadline = time.monotonic() + settings.timeout
    in_a_row = attempts = 0
    status: int | None = None
    error: str | None = None
    with requests.Session() as session:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            attempts += 1
            try:
                answer = session.get(
                    check.url,
                    timeout=min(settings.request_timeout, remaining),
                    allow_redirects=False,
                )
                status, error = answer.status_code, None
                answer.close()
            except requests.RequestException as exc:
                status, error = None, _one_line(exc)
            if status is not None and 200 <= status < 300:
                in_a_row += 1
                if in_a_row >= settings.successes:
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


def _one_line(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."
