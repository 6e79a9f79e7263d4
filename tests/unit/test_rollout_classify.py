"""Whether one service's rollout succeeded, failed or is still going (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

from shipline.aws import short_name
from shipline.release.rollout import FAILED, SUCCEEDED, WAITING, classify

OLD = "arn:aws:ecs:us-east-1:123456789012:task-definition/web:4"
NEW = "arn:aws:ecs:us-east-1:123456789012:task-definition/web:5"


def deployment(td, status="PRIMARY", rollout="IN_PROGRESS", running=2, desired=2, **extra):
    return {
        "taskDefinition": td,
        "status": status,
        "rolloutState": rollout,
        "runningCount": running,
        "desiredCount": desired,
        **extra,
    }


def service(*deployments, status="ACTIVE"):
    return {"serviceName": "web", "status": status, "deployments": list(deployments)}


def test_completed_primary_with_all_tasks_running_succeeds():
    outcome = classify(service(deployment(NEW, rollout="COMPLETED")), NEW)
    assert outcome.state == SUCCEEDED
    assert outcome.detail == "COMPLETED, 2/2 running"


def test_in_progress_beside_the_old_deployment_is_still_waiting():
    outcome = classify(
        service(deployment(NEW, running=1), deployment(OLD, status="ACTIVE", rollout="COMPLETED")),
        NEW,
    )
    assert outcome.state == WAITING
    assert "1/2 running" in outcome.detail


def test_completed_but_fewer_running_than_desired_is_not_success():
    assert classify(service(deployment(NEW, rollout="COMPLETED", running=1)), NEW).state == WAITING


def test_failed_rollout_is_a_failure_even_without_the_circuit_breakers_rollback():
    outcome = classify(
        service(
            deployment(NEW, rollout="FAILED", running=0, failedTasks=3, rolloutStateReason="boom"),
            deployment(OLD, status="ACTIVE", rollout="COMPLETED"),
        ),
        NEW,
    )
    assert outcome.state == FAILED
    assert "rollout FAILED (3 failed tasks): boom" in outcome.detail


def test_circuit_breaker_rollback_to_another_task_definition_is_a_failure():
    # ECS's own rollback: a new PRIMARY on the old revision, which completes.
    outcome = classify(
        service(
            deployment(OLD, rollout="COMPLETED"),
            deployment(NEW, status="ACTIVE", rollout="FAILED", running=0),
        ),
        NEW,
    )
    assert outcome.state == FAILED
    assert "went back to web:4" in outcome.detail
    assert outcome.task_definition == OLD


def test_service_on_another_task_definition_without_a_trace_of_ours_is_a_failure():
    outcome = classify(service(deployment(OLD, rollout="COMPLETED")), NEW)
    assert outcome.state == FAILED
    assert "runs web:4, not web:5" in outcome.detail


def test_rolling_back_to_the_revision_the_circuit_breaker_already_restored_succeeds():
    outcome = classify(
        service(
            deployment(OLD, rollout="COMPLETED"),
            deployment(NEW, status="ACTIVE", rollout="FAILED", running=0),
        ),
        OLD,
    )
    assert outcome.state == SUCCEEDED


def test_inactive_service_fails():
    assert classify(service(deployment(NEW), status="DRAINING"), NEW).state == FAILED


def test_without_rollout_state_one_deployment_at_full_count_is_done():
    lone = deployment(NEW, rollout=None)
    assert classify(service(lone), NEW).state == SUCCEEDED
    assert classify(service(lone, deployment(OLD, status="ACTIVE")), NEW).state == WAITING


def test_short_name_is_family_and_revision():
    assert short_name(NEW) == "web:5"
    assert short_name(None) == "?"


def test_a_stale_answer_without_the_new_deployment_is_waiting_not_a_rollback():
    started = datetime(2026, 11, 26, 8, 0, 10, tzinfo=UTC)
    old = deployment(OLD, rollout="COMPLETED", createdAt=datetime(2026, 11, 26, 7, 0, tzinfo=UTC))
    outcome = classify(service(old), NEW, started_at=started)
    assert outcome.state == WAITING
    assert "does not list the new deployment yet" in outcome.detail


def test_a_primary_newer_than_the_update_on_another_revision_is_a_rollback():
    started = datetime(2026, 11, 26, 8, 0, 10, tzinfo=UTC)
    rolled = deployment(
        OLD, rollout="COMPLETED", createdAt=datetime(2026, 11, 26, 8, 1, tzinfo=UTC)
    )
    assert classify(service(rolled), NEW, started_at=started).state == FAILED
