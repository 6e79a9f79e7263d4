"""A ping when a release ends: its payload POSTed to the environment's `notify.webhook`.

Sent once a release has its final status, whatever the kind (deploy, rollback, scale-to-zero,
migrate) and however it ended, after the record is written and the lock released, so a slow
receiver never holds the environment. The ping is bounded: at most ATTEMPTS attempts, each
within `notify.timeout` seconds of wall-clock time from connecting to the answer's status
(the connection is cut at the deadline, however slowly the receiver sends), BACKOFF_SECONDS
apart; redirects are not followed and the answer's body is never read. A ping that fails is
one line naming the receiver's host only (the URL holds a token) and changes nothing else:
not the release's status, record or exit code.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from shipline import github

if TYPE_CHECKING:
    from shipline.config import Environment
    from shipline.release.records import ReleaseRecord

ATTEMPTS = 3
BACKOFF_SECONDS = (0.5, 1.0)  # the pause before the 2nd and the 3rd attempt
# Answers worth another attempt: the receiver is busy or broken for now. Any other 4xx says
# the URL is wrong or revoked, a 3xx that it moved: trying again would not help.
RETRY_STATUSES = frozenset({408, 425, 429})


@dataclass(frozen=True)
class Delivery:
    delivered: bool
    attempts: int
    problem: str | None = None  # why the last attempt failed, never quoting the URL


def announce(
    environment: Environment,
    record: ReleaseRecord,
    record_uri: str | None,
    report: Callable[[str], None],
) -> Delivery | None:
    """Ping the environment's webhook about `record`, which has just ended (`record_uri`:
    None when the record could not be written). Never raises; None when no ping is set up."""
    notify = environment.notify
    if notify is None:
        return None
    if not notify.webhook:
        report(f"no ping sent: environments.{environment.name}.notify.webhook is empty")
        return None
    github.mask(notify.webhook)
    host = urlsplit(notify.webhook).hostname or "the webhook"
    try:
        from shipline.release.notify_payload import payload

        body = json.dumps(payload(record, record_uri), ensure_ascii=True).encode()
        delivery = send(notify.webhook, body, notify.timeout)
    except Exception as exc:  # the release's outcome never depends on its ping
        delivery = Delivery(False, 0, f"could not be sent: {type(exc).__name__}")
    if delivery.delivered:
        report(f"pinged {host}: release {record.release_id} {record.status}")
    else:
        tries = "attempt" if delivery.attempts == 1 else "attempts"
        report(
            f"note: the ping to {host} failed after {delivery.attempts} {tries} "
            f"({delivery.problem}); the release's outcome is unchanged"
        )
    return delivery


def send(
    url: str,
    body: bytes,
    timeout: float,
    *,
    attempts: int = ATTEMPTS,
    sleep: Callable[[float], None] = time.sleep,
) -> Delivery:
    """POST `body` (JSON) to `url` until a 2xx answer, at most `attempts` times."""
    problem: str | None = None
    for attempt in range(1, attempts + 1):
        status, problem = post(url, body, timeout)
        if problem is None:
            return Delivery(True, attempt)
        retry = status is None or status >= 500 or status in RETRY_STATUSES
        if not retry or attempt == attempts:
            return Delivery(False, attempt, problem)
        sleep(BACKOFF_SECONDS[min(attempt, len(BACKOFF_SECONDS)) - 1])
    return Delivery(False, attempts, problem)


def post(url: str, body: bytes, seconds: float) -> tuple[int | None, str | None]:
    """One POST within `seconds` of wall-clock time: (status, None) for a 2xx answer, else
    (status or None, why) in words of our own (no text of the receiver, no URL)."""
    from shipline.release.health import DeadlineGuard, request_for
    from shipline.release.stopping import StopSignal

    connection, target, headers = request_for(url, seconds)
    # A stop request does not cut the ping short: it is the ending of a release that stopped.
    guard = DeadlineGuard(time.monotonic() + seconds, StopSignal())
    late = f"no answer within {round(seconds, 1):g}s"
    connection._create_connection = guard.connect  # type: ignore[attr-defined]
    watcher = threading.Thread(target=guard.watch, name="notify-guard", daemon=True)
    watcher.start()
    status: int | None = None
    try:
        headers = {**headers, "Content-Type": "application/json"}
        connection.request("POST", target, body=body, headers=headers)
        status = connection.getresponse().status
    except (OSError, http.client.HTTPException, ValueError) as exc:
        if guard.cut or isinstance(exc, TimeoutError):
            return None, late
        if isinstance(exc, ConnectionRefusedError):
            return None, "connection refused"
        return None, f"no answer: {type(exc).__name__}"
    finally:
        guard.finish()
        connection.close()
    if 200 <= status < 300:
        return status, None
    if 300 <= status < 400:
        return status, f"HTTP {status}: redirects are not followed"
    return status, f"HTTP {status}"
