"""Heartbeat lines during long waits (issue 15, item 3): what a line says, and its pace on a
clock of its own, whatever the poll interval."""

from __future__ import annotations

from dataclasses import dataclass

from shipline.release.heartbeat import (
    Heartbeat,
    UrlProgress,
    health_where,
    heartbeat_line,
    is_heartbeat,
    migration_where,
    rollout_where,
)
from shipline.release.rollout import classify

TD1 = "arn:aws:ecs:us-east-1:123456789012:task-definition/app-api:1"
TD2 = "arn:aws:ecs:us-east-1:123456789012:task-definition/app-api:2"


def service(*deployments: dict[str, object]) -> dict[str, object]:
    return {"status": "ACTIVE", "deployments": list(deployments), "taskDefinition": TD2}


def deployment(td: str, status: str, state: str, running: int, desired: int) -> dict[str, object]:
    return {
        "taskDefinition": td,
        "status": status,
        "rolloutState": state,
        "runningCount": running,
        "desiredCount": desired,
    }


def test_a_rollout_line_gives_elapsed_against_timeout_and_each_service_figures():
    outcomes = {
        "api": classify(
            service(
                deployment(TD2, "PRIMARY", "IN_PROGRESS", 1, 2),
                deployment(TD1, "ACTIVE", "COMPLETED", 2, 2),
            ),
            TD2,
        ),
        "web": classify(service(deployment(TD2, "PRIMARY", "COMPLETED", 2, 2)), TD2),
    }
    line = heartbeat_line(30.2, 900, rollout_where(["api", "web"], outcomes))
    assert line == "waiting 30s/900s: api 1/2 running (IN_PROGRESS), web 2/2 running (COMPLETED)"


def test_a_failed_rollout_and_a_service_not_described_yet_are_told_apart():
    failed = dict(deployment(TD2, "PRIMARY", "FAILED", 0, 2), rolloutStateReason="tasks failed")
    outcomes = {"api": classify(service(failed), TD2)}
    where = rollout_where(["api", "worker"], outcomes)
    assert where == "api 0/2 running (FAILED), worker not described yet"


def test_fractions_of_seconds_are_shown_below_ten_seconds():
    assert heartbeat_line(0.44, 2, "x") == "waiting 0.4s/2s: x"
    assert heartbeat_line(9.96, 0.5, "x") == "waiting 10s/0.5s: x"


def test_a_renderer_can_tell_a_heartbeat_from_other_progress_lines():
    assert is_heartbeat(heartbeat_line(12, 300, migration_where("abc123", "RUNNING")))
    assert is_heartbeat("waiting 0.4s/2s: api: healthy")
    assert not is_heartbeat("api (app-api): waiting: IN_PROGRESS, 1/2 running")
    assert not is_heartbeat("waiting for the lock of staging (30 s left): ...")


def test_a_migration_line_names_the_task_and_its_last_status():
    assert migration_where("abc123", "RUNNING") == "migration task abc123 RUNNING"
    assert migration_where("abc123", None) == "migration task abc123 not described yet"


def test_a_health_line_gives_each_url_attempts_and_last_answer():
    progress = [
        UrlProgress("api", attempts=3, last="HTTP 503"),
        UrlProgress("web", attempts=1, last="connection refused to http://127.0.0.1:9/up"),
        UrlProgress("worker", attempts=2, last="HTTP 200", healthy=True),
        UrlProgress("admin"),
    ]
    assert health_where(progress) == (
        "api: 3 attempts, last HTTP 503; "
        "web: 1 attempt, last connection refused to http://127.0.0.1:9/up; "
        "worker: healthy; admin: no answer yet"
    )


@dataclass
class Clock:
    """Time that moves only when slept through."""

    now: float = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def polled_wait(poll: float, interval: float, polls: int) -> list[tuple[float, str]]:
    """A wait loop as rollout's: pause a poll interval, poll, beat if due; when each line came."""
    clock = Clock()
    pace = Heartbeat(interval, clock)
    lines: list[tuple[float, str]] = []
    figures = {"polls": 0}

    def beat() -> None:
        lines.append((round(clock.now, 6), f"after {figures['polls']} polls"))

    for _ in range(polls):
        pace.pause(clock.sleep, poll, beat)
        figures["polls"] += 1
        pace.beat(beat)
    return lines


def test_with_a_poll_slower_than_the_heartbeat_beats_come_between_polls():
    lines = polled_wait(poll=30, interval=10, polls=2)
    # The beat at 30 s falls on a poll: it waits for that poll's figures.
    assert lines == [
        (10, "after 0 polls"),
        (20, "after 0 polls"),
        (30, "after 1 polls"),
        (40, "after 1 polls"),
        (50, "after 1 polls"),
        (60, "after 2 polls"),
    ]


def test_with_a_poll_faster_than_the_heartbeat_one_line_per_interval():
    lines = polled_wait(poll=2, interval=10, polls=15)  # 30 s
    assert [when for when, _ in lines] == [10, 20, 30]
    assert lines[0] == (10, "after 5 polls")


def test_beats_missed_by_a_slow_call_are_skipped_not_printed_in_a_burst():
    clock = Clock()
    pace = Heartbeat(10, clock)
    lines: list[float] = []
    clock.sleep(35)  # one DescribeServices call hung for 35 s
    pace.beat(lambda: lines.append(clock.now))
    pace.beat(lambda: lines.append(clock.now))
    assert lines == [35]
    assert pace.next_at() == 40
