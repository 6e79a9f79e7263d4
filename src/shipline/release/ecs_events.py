"""Which ECS service events a person needs to see while a release waits (pure).

ECS writes an event for every task it starts or stops and every target it registers, and it
repeats "has reached a steady state" periodically ("Amazon ECS service event messages",
https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service-event-messages-list.html).
Those are progress the closing table sums up. What matters is what explains a failure or a
stall: a deployment the circuit breaker failed and rolled back, tasks that cannot be placed or
cannot start, targets or containers failing their health checks, an error. Those are shown by
default, without the `(service NAME)` and `(deployment ID)` prefixes; every other event is
shown whole under `--verbose` only.
"""

from __future__ import annotations

import re

# An event matters when its message matches one of these (ECS's own wording, case ignored).
MATTERS: tuple[str, ...] = (
    r"deployment failed",  # the circuit breaker failed the deployment
    r"rolling back to deployment",  # ... and rolls the service back
    r"unable to place",  # no capacity or no instance meets the constraints
    r"unable to consistently start tasks",  # SERVICE_TASK_START_IMPAIRED
    r"is unhealthy in \(target-group",  # the load balancer's health checks fail
    r"failed container health checks",
    r"failed to (launch|start|register|deregister)",
    r"\berror\b",
)
_MATTERS = re.compile("|".join(f"(?:{pattern})" for pattern in MATTERS), re.IGNORECASE)
# The prefixes every service event starts with; the line already names the service.
_PREFIXES = re.compile(r"^(?:\((?:service|deployment) [^()]*\)\s*)+")


def matters(message: str) -> bool:
    """Whether a person needs this event at the default level (see the module docstring)."""
    return _MATTERS.search(message) is not None


def brief(message: str) -> str:
    """The event without its leading `(service NAME)` / `(deployment ID)` parts."""
    return _PREFIXES.sub("", message.strip()) or message.strip()


def progress_line(key: str, service: str, message: str) -> str:
    """The progress line of one event of service `key` (ECS name `service`): `KEY: ECS: ...`
    for an event that matters, `KEY (SERVICE): event: ...` whole for any other (console.py
    shows those under --verbose only)."""
    if matters(message):
        return f"{key}: ECS: {brief(message)}"
    return f"{key} ({service}): event: {message}"
