"""Injected faults: throttled or failing AWS calls, slow calls, flapping or hanging health checks.

The policy's `faults` section says, per operation (`ecs.DescribeServices`, `ecs.*`, `*`), what
fraction of calls answer a throttling error or a 5xx and how long each call is held; per ECS
service (or `*`), whether its health endpoint flaps or hangs. Which calls fail is drawn from a
random generator seeded by `faults.seed` and the operation's name, so one client making the same
calls sees the same faults on every run, whatever other clients do meanwhile.

The error answers have the shape of each protocol's own errors, so botocore classifies them as
AWS would: throttling (retried, and slowing down the adaptive rate limiter) or a 5xx (retried).
"""

from __future__ import annotations

import json
import random
import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape

WILDCARD = "*"
ALTERNATE = "alternate"

# What each protocol's throttling error is called, and its HTTP status.
THROTTLING = {
    "json": ("ThrottlingException", 400),
    "query": ("Throttling", 400),
    "ec2": ("RequestLimitExceeded", 503),
    "s3": ("SlowDown", 503),
}
SERVER_ERROR_CODES = {500: "InternalFailure", 502: "BadGateway", 503: "ServiceUnavailable"}
SERVER_ERROR_CODE_OTHER = "InternalError"


@dataclass(frozen=True)
class OperationFaults:
    throttle: float = 0.0  # fraction of calls answering a throttling error
    server_error: float = 0.0  # fraction of calls answering a 5xx
    server_error_status: int = 500
    delay_seconds: float = 0.0  # every call is held this long before it is answered


@dataclass(frozen=True)
class HealthFaults:
    flap: str | float = 0.0  # "alternate", or the fraction of healthy answers turned into 503
    hang_seconds: float = 0.0  # every request is held this long before it is answered


@dataclass(frozen=True)
class FaultRules:
    """The policy's `faults` section as written; merged per name on look-up."""

    seed: int = 0
    operations: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    health: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @classmethod
    def from_document(cls, section: Mapping[str, Any] | None) -> FaultRules:
        section = section or {}
        return cls(
            seed=int(section.get("seed", 0)),
            operations=section.get("operations", {}),
            health=section.get("health", {}),
        )

    def __bool__(self) -> bool:
        return bool(self.operations or self.health)

    def for_operation(self, name: str) -> OperationFaults:
        """`*`, then `<service>.*`, then the exact name, overlaid field by field."""
        service = name.split(".", 1)[0]
        merged: dict[str, Any] = {}
        for key in (WILDCARD, f"{service}.*", name):
            merged.update(self.operations.get(key, {}))
        return OperationFaults(**merged)

    def for_health(self, service_name: str) -> HealthFaults:
        merged = dict(self.health.get(WILDCARD, {}))
        merged.update(self.health.get(service_name, {}))
        return HealthFaults(**merged)


def problems(section: Mapping[str, Any]) -> list[str]:
    """What the schema cannot say: the fractions of one operation must not exceed 1."""
    found = []
    for name, entry in section.get("operations", {}).items():
        total = entry.get("throttle", 0) + entry.get("server_error", 0)
        if total > 1:
            found.append(
                f"faults.operations[{name!r}]: throttle + server_error is {total:g}, more than 1"
            )
    return found


@dataclass(frozen=True)
class Fault:
    """One injected error answer."""

    status: int
    code: str
    message: str


def choose(rules: OperationFaults, draw: float) -> Fault | None:
    """The fault a call gets for a draw in [0, 1): throttling first, then a 5xx, else none."""
    if draw < rules.throttle:
        return Fault(400, "Throttling", "Rate exceeded")
    if draw < rules.throttle + rules.server_error:
        status = rules.server_error_status
        code = SERVER_ERROR_CODES.get(status, SERVER_ERROR_CODE_OTHER)
        return Fault(status, code, "injected by the sandbox policy")
    return None


def protocol_of(name: str, headers: Mapping[str, str], form_action: bool) -> str:
    """json (X-Amz-Target or REST-JSON), query (Action=...), ec2, or s3."""
    service = name.split(".", 1)[0]
    if service == "s3":
        return "s3"
    if "x-amz-target" in headers:
        return "json"
    if form_action:
        return "ec2" if service == "ec2" else "query"
    return "json"


@dataclass(frozen=True)
class ErrorAnswer:
    status: int
    code: str
    headers: list[tuple[str, str]]
    body: bytes


def error_answer(fault: Fault, protocol: str) -> ErrorAnswer:
    """`fault` as an HTTP answer in `protocol`'s error shape."""
    code, status = fault.code, fault.status
    if code == "Throttling":
        code, status = THROTTLING[protocol]
    request_id = "00000000-0000-4000-8000-00000000fa17"
    message = escape(fault.message)
    if protocol == "json":
        body = json.dumps({"__type": code, "message": fault.message}).encode()
        headers = [
            ("Content-Type", "application/x-amz-json-1.1"),
            ("x-amzn-ErrorType", code),
            ("x-amzn-RequestId", request_id),
        ]
        return ErrorAnswer(status, code, headers, body)
    if protocol == "ec2":
        text = (
            f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message>"
            f"</Error></Errors><RequestID>{request_id}</RequestID></Response>"
        )
    elif protocol == "s3":
        text = (
            f"<Error><Code>{code}</Code><Message>{message}</Message>"
            f"<RequestId>{request_id}</RequestId></Error>"
        )
    else:
        kind = "Receiver" if status >= 500 else "Sender"
        text = (
            f"<ErrorResponse><Error><Type>{kind}</Type><Code>{code}</Code>"
            f"<Message>{message}</Message></Error><RequestId>{request_id}</RequestId>"
            "</ErrorResponse>"
        )
    headers = [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)]
    return ErrorAnswer(status, code, headers, text.encode())


class FaultInjector:
    """Draws the faults of one policy; thread-safe. A new policy gets a new injector."""

    def __init__(self, rules: FaultRules) -> None:
        self.rules = rules
        self._lock = threading.Lock()
        self._generators: dict[str, random.Random] = {}
        self._health_requests: Counter[str] = Counter()

    def _draw(self, key: str) -> float:
        generator = self._generators.get(key)
        if generator is None:
            generator = self._generators[key] = random.Random(f"{self.rules.seed}:{key}")
        return generator.random()

    def for_call(self, name: str) -> tuple[float, Fault | None]:
        """(seconds to hold the call, the error to answer or None) for one call of `name`."""
        rules = self.rules.for_operation(name)
        if not (rules.throttle or rules.server_error):
            return rules.delay_seconds, None
        with self._lock:
            fault = choose(rules, self._draw(name))
        return rules.delay_seconds, fault

    def for_health(self, cluster: str, service_name: str) -> tuple[float, bool]:
        """(seconds to hold the request, whether a healthy answer is turned into a 503)."""
        rules = self.rules.for_health(service_name)
        key = f"{cluster}/{service_name}"
        with self._lock:
            self._health_requests[key] += 1
            if rules.flap == ALTERNATE:
                # The 1st, 3rd, 5th ... request answers as it would; every other one fails.
                flapped = self._health_requests[key] % 2 == 0
            elif isinstance(rules.flap, (int, float)) and rules.flap > 0:
                flapped = self._draw(f"health:{key}") < rules.flap
            else:
                flapped = False
        return rules.hang_seconds, flapped
