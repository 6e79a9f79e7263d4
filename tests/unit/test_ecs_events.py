"""Which ECS service events a release shows by default (release/ecs_events.py), on ECS's own
wording ("Amazon ECS service event messages", AWS documentation) and on the sandbox's."""

from __future__ import annotations

import pytest

from shipline import console
from shipline.release import ecs_events

SERVICE = "agent-saas-sim-web"

# Events that explain a failure or a stall: shown by default.
MATTER = [
    f"(service {SERVICE}) (deployment ecs-svc/6886666165432500267) deployment failed: "
    "tasks failed to start.",
    f"(service {SERVICE}) rolling back to deployment ecs-svc/1641081761714078161.",
    f"(service {SERVICE}) was unable to place a task because no container instance met all of "
    "its requirements. Reason: No Container Instances were found in your cluster.",
    f"(service {SERVICE}) is unable to consistently start tasks successfully.",
    f"(service {SERVICE}) (task 0a1b2c3d) (port 8080) is unhealthy in (target-group "
    "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/web/1) due to (reason Health checks "
    "failed).",
    f"(service {SERVICE}) (task 0a1b2c3d) failed container health checks.",
    f"(service {SERVICE}) failed to launch a task with (error ECS was unable to assume the role).",
]
# Progress the closing table sums up: shown with --verbose only.
ROUTINE = [
    f"(service {SERVICE}) has started 2 tasks: (task ac40f010-261b-4277-ab9f-4a126cda8c17) "
    "(task ae9f6145-1241-43b2-812f-415542214dd6).",
    f"(service {SERVICE}) registered 2 targets in (target-group "
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/931393dae3c47980)",
    f"(service {SERVICE}) deregistered 2 targets in (target-group "
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/931393dae3c47980)",
    f"(service {SERVICE}) has stopped 2 running tasks: (task 590a4bd4) (task be5f7c09).",
    f"(service {SERVICE}) (deployment ecs-svc/5134367725071912783) deployment completed.",
    f"(service {SERVICE}) has reached a steady state.",
]


@pytest.mark.parametrize("message", MATTER)
def test_an_event_that_explains_a_failure_is_shown_by_default(message):
    assert ecs_events.matters(message)
    line = ecs_events.progress_line("web", SERVICE, message)
    assert line.startswith("web: ECS: ") and "(service " not in line and "(deployment " not in line
    assert console.level_of(line) == console.Level.STEP


@pytest.mark.parametrize("message", ROUTINE)
def test_routine_progress_is_shown_whole_under_verbose_only(message):
    assert not ecs_events.matters(message)
    line = ecs_events.progress_line("web", SERVICE, message)
    assert line == f"web ({SERVICE}): event: {message}"
    assert console.level_of(line) == console.Level.DETAIL


def test_the_brief_form_keeps_what_ecs_said():
    assert (
        ecs_events.brief(MATTER[0]) == "deployment failed: tasks failed to start."
    )  # what and why
    assert ecs_events.brief(MATTER[1]) == "rolling back to deployment ecs-svc/1641081761714078161."
    assert ecs_events.brief("(service x)") == "(service x)"  # nothing left: the whole text
