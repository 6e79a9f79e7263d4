"""Release records, ids, and which release a rollback returns to: pure, no AWS."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from shipline import schemas
from shipline.errors import EXIT_REFUSED, UsageError
from shipline.release.records import (
    HealthRecord,
    MigrateRecord,
    RecordError,
    ReleaseRecord,
    ServiceRecord,
    environment_at,
    live_release,
    new_release_id,
    restore_source,
    restored_desired_count,
    rollback_target,
)
from support.release_ids import T0, Clock

ARN = "arn:aws:ecs:us-east-1:123456789012:task-definition/{}:{}"


def td(family: str, revision: int) -> str:
    return ARN.format(family, revision)


def deploy(clock: Clock, status: str = "succeeded", **revisions: int) -> ReleaseRecord:
    record = ReleaseRecord(
        release_id=clock.next_id(),
        environment="production",
        services={
            key: ServiceRecord(
                service=f"app-{key}",
                task_definition=td(key, revision),
                previous_task_definition=td(key, revision - 1) if revision > 1 else None,
                desired_count=2,
            )
            for key, revision in revisions.items()
        },
    )
    if status != "in_progress":
        record.finish(status)
    return record


def rollback(clock: Clock, target: ReleaseRecord, status: str = "succeeded") -> ReleaseRecord:
    record = ReleaseRecord(
        release_id=clock.next_id(),
        environment="production",
        kind="rollback",
        rolled_back_to=target.release_id,
        services={
            key: ServiceRecord(
                service=entry.service,
                task_definition=entry.task_definition,
                previous_task_definition=None,
                desired_count=entry.desired_count,
            )
            for key, entry in target.services.items()
        },
    )
    record.finish(status)
    return record


# --- ids ---------------------------------------------------------------------------------


def test_release_id_has_the_contract_form_and_fits_the_schema():
    release_id = new_release_id(datetime(2026, 11, 26, 7, 15, 0, tzinfo=UTC))
    assert re.fullmatch(r"20261126T071500Z-0000[0-9a-f]{2}", release_id)
    pattern = schemas.load("release-record")["$defs"]["release_id"]["pattern"]
    assert re.fullmatch(pattern, release_id)


def test_release_ids_sort_by_time_even_within_one_second():
    moments = [T0 + timedelta(microseconds=step * 1000) for step in range(0, 1000, 7)]
    moments += [T0 + timedelta(seconds=1), T0 + timedelta(hours=3)]
    ids = [new_release_id(moment) for moment in moments]
    assert sorted(ids) == ids


def test_release_ids_made_in_the_same_instant_differ():
    ids = {new_release_id(T0) for _ in range(64)}
    assert len(ids) > 40  # 256 random suffixes: 64 draws collide rarely, never all


def test_release_id_converts_local_times_to_utc():
    local = datetime(2026, 11, 26, 9, 15, 0, tzinfo=UTC).astimezone()
    assert new_release_id(local).startswith("20261126T091500Z-")


# --- the record shape --------------------------------------------------------------------


def full_record() -> ReleaseRecord:
    record = ReleaseRecord(
        release_id=new_release_id(T0),
        environment="production",
        actor="octocat",
        git_sha="0123abc",
        run_url="https://github.com/acme/app/actions/runs/1",
        images={"api": "ghcr.io/acme/api@sha256:" + "a" * 64},
        services={
            "api": ServiceRecord(
                service="app-api",
                task_definition=td("api", 8),
                previous_task_definition=td("api", 7),
                desired_count=2,
                task_definition_content={"family": "api", "containerDefinitions": [{"name": "a"}]},
            )
        },
        migrate=MigrateRecord(task_arn="arn:task", task_definition=td("api", 8), exit_code=0),
        health=[HealthRecord(url="https://api/health/ready", ok=True, status=200, attempts=3)],
    )
    record.finish("succeeded")
    return record


def test_every_contract_field_is_written_and_the_record_fits_the_schema():
    document = full_record().to_dict()
    assert set(document) == {
        "release_id",
        "environment",
        "kind",
        "status",
        "started_at",
        "finished_at",
        "actor",
        "git_sha",
        "run_url",
        "images",
        "services",
        "migrate",
        "health",
        "rolled_back_to",
        "error",
    }
    assert schemas.problems("release-record", document) == []
    assert set(document["services"]["api"]) >= {
        "service",
        "task_definition",
        "previous_task_definition",
        "desired_count",
    }


def test_a_record_survives_its_stored_form():
    record = full_record()
    assert ReleaseRecord.from_dict(record.to_dict()) == record


def test_in_progress_record_without_extras_fits_the_schema():
    record = ReleaseRecord(release_id=new_release_id(T0), environment="staging")
    document = record.to_dict()
    assert document["status"] == "in_progress"
    assert document["finished_at"] is None
    assert schemas.problems("release-record", document) == []


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"status": "done"}, "status"),
        ({"kind": "rollback"}, "rolled_back_to"),
        ({"finished_at": None}, "finished_at"),
        ({"release_id": "2026-11-26"}, "release_id"),
        ({"surprise": 1}, "unknown key"),
        ({"started_at": "yesterday"}, "started_at"),
    ],
)
def test_records_that_miss_the_schema_are_refused_with_the_reason(change, problem):
    document = {**full_record().to_dict(), **change}
    with pytest.raises(RecordError, match=problem):
        ReleaseRecord.from_dict(document)


def test_a_bad_task_definition_arn_is_refused_on_write():
    record = full_record()
    record.services["api"].task_definition = "api:8"
    with pytest.raises(RecordError, match=re.escape("services.api.task_definition")):
        record.validate()


def test_finish_requires_a_final_status():
    record = ReleaseRecord(release_id=new_release_id(T0), environment="staging")
    with pytest.raises(ValueError, match="final status"):
        record.finish("in_progress")
    record.finish("failed", error="migration exited 1", now=T0)
    assert (record.status, record.finished_at, record.error) == (
        "failed",
        "2026-11-26T07:00:00.000Z",
        "migration exited 1",
    )


# --- which release is live, and which one a rollback returns to ------------------------


def test_rollback_returns_to_the_succeeded_release_before_the_live_one():
    clock = Clock()
    r1 = deploy(clock, api=1, web=1)
    r2 = deploy(clock, api=2, web=2)
    r3 = deploy(clock, api=3, web=3)
    assert live_release([r1, r2, r3]) == r3
    assert rollback_target([r3, r1, r2]) == r2


def test_a_second_rollback_walks_one_further_back_and_a_third_runs_out():
    clock = Clock()
    r1, r2, r3 = (deploy(clock, api=n) for n in (1, 2, 3))
    back_to_r2 = rollback(clock, r2)
    assert live_release([r1, r2, r3, back_to_r2]) == r2
    assert rollback_target([r1, r2, r3, back_to_r2]) == r1
    back_to_r1 = rollback(clock, r1)
    with pytest.raises(UsageError, match=f"before the live one {r1.release_id}") as caught:
        rollback_target([r1, r2, r3, back_to_r2, back_to_r1])
    assert caught.value.exit_code == EXIT_REFUSED


def test_failed_and_rolled_back_deploys_are_never_live_nor_returned_to():
    clock = Clock()
    r1 = deploy(clock, api=1)
    r2 = deploy(clock, api=2)
    bad = [
        deploy(clock, "failed", api=3),
        deploy(clock, "rolled_back", api=4),
        deploy(clock, "interrupted", api=5),
        deploy(clock, "in_progress", api=6),
    ]
    assert live_release([r1, r2, *bad]) == r2
    assert rollback_target([r1, r2, *bad]) == r1


def test_a_deploy_after_a_rollback_does_not_bring_back_the_abandoned_release():
    clock = Clock()
    r1, r2, r3 = (deploy(clock, api=n) for n in (1, 2, 3))
    back = rollback(clock, r2)
    r4 = deploy(clock, api=4)
    # r3 was rolled back from: the step back from r4 is r2, the last release kept.
    assert rollback_target([r1, r2, r3, back, r4]) == r2


def test_a_release_named_with_to_is_live_again_and_no_longer_abandoned():
    clock = Clock()
    r1, r2, r3 = (deploy(clock, api=n) for n in (1, 2, 3))
    back = rollback(clock, r1)
    forward = rollback(clock, r3)
    assert live_release([r1, r2, r3, back, forward]) == r3
    # r2 was skipped over by the rollback to r1, so it stays abandoned.
    assert rollback_target([r1, r2, r3, back, forward]) == r1


def test_scale_to_zero_does_not_change_the_live_release():
    clock = Clock()
    r1, r2 = deploy(clock, api=1), deploy(clock, api=2)
    stop = ReleaseRecord(release_id=clock.next_id(), environment="production", kind="scale-to-zero")
    stop.finish("succeeded")
    assert live_release([r1, r2, stop]) == r2
    assert rollback_target([r1, r2, stop]) == r1


def test_services_left_off_the_live_release_make_the_live_release_the_target():
    clock = Clock()
    r1, r2 = deploy(clock, api=1, web=1), deploy(clock, api=2, web=2)
    broken = deploy(clock, "rollback_failed", api=3, web=3)
    history = [r1, r2, broken]
    # The failed deploy left web on revision 3: the first step back is to r2 itself.
    assert rollback_target(history, current={"api": td("api", 2), "web": td("web", 3)}) == r2
    assert rollback_target(history, current={"api": td("api", 2), "web": td("web", 2)}) == r1


def test_a_re_registered_copy_counts_as_the_release_it_copies():
    clock = Clock()
    r1, r2, r3 = (deploy(clock, api=n) for n in (1, 2, 3))
    back = rollback(clock, r2)
    back.services["api"].task_definition = td("api", 9)
    back.services["api"].registered_from = td("api", 2)
    assert rollback_target([r1, r2, r3, back], current={"api": td("api", 9)}) == r1


def test_to_names_the_target():
    clock = Clock()
    r1, r2, r3 = (deploy(clock, api=n) for n in (1, 2, 3))
    assert rollback_target([r1, r2, r3], to=r1.release_id) == r1


@pytest.mark.parametrize(
    ("which", "message"),
    [
        ("unknown", "no release 20990101T000000Z-000000"),
        ("failed", "ended failed"),
        ("rollback", "is a rollback to"),
    ],
)
def test_to_a_release_that_cannot_be_returned_to_is_refused(which, message):
    clock = Clock()
    r1, r2 = deploy(clock, api=1), deploy(clock, api=2)
    failed = deploy(clock, "failed", api=3)
    back = rollback(clock, r1)
    names = {"unknown": "20990101T000000Z-000000", "failed": failed.release_id}
    names["rollback"] = back.release_id
    with pytest.raises(UsageError, match=message) as caught:
        rollback_target([r1, r2, failed, back], to=names[which])
    assert caught.value.exit_code == EXIT_REFUSED


def test_no_history_means_nothing_to_roll_back_to():
    with pytest.raises(UsageError, match="no release has succeeded"):
        rollback_target([])
    clock = Clock()
    with pytest.raises(UsageError, match="no succeeded release before"):
        rollback_target([deploy(clock, api=1)])


# --- what every service ran while a release was live ------------------------------------


def test_environment_at_covers_services_the_release_did_not_move():
    clock = Clock()
    r1 = deploy(clock, api=1, web=1, worker=1)
    r2 = deploy(clock, web=2)
    r3 = deploy(clock, api=3, worker=3)
    state = environment_at([r1, r2, r3], r2.release_id)
    assert {key: s.task_definition for key, s in state.items()} == {
        "api": td("api", 1),
        "web": td("web", 2),
        "worker": td("worker", 1),
    }
    assert state["api"].recorded_by == r1.release_id


def test_environment_at_learns_older_services_from_later_previous_task_definitions():
    clock = Clock()
    r1 = deploy(clock, web=5)  # the history starts here; api ran revision 6 already
    r2 = deploy(clock, api=7)
    state = environment_at([r1, r2], r1.release_id)
    assert state["api"].task_definition == td("api", 6)
    assert state["api"].recorded_by == r2.release_id
    assert state["web"].task_definition == td("web", 5)


def test_environment_at_after_a_rollback_uses_what_the_rollback_set():
    clock = Clock()
    r1, r2 = deploy(clock, api=1), deploy(clock, api=2)
    back = rollback(clock, r1)
    back.services["api"].task_definition = td("api", 9)
    r3 = deploy(clock, web=1)
    assert environment_at([r1, r2, back, r3], r3.release_id)["api"].task_definition == td("api", 9)


# --- restoring one service ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("current", "recorded", "expected"),
    [(3, 2, 3), (0, 2, 2), (0, None, 0), (0, 0, 0), (1, None, 1)],
)
def test_a_rollback_keeps_the_running_count_unless_the_service_is_stopped(
    current, recorded, expected
):
    assert restored_desired_count(current, recorded) == expected


@pytest.mark.parametrize(
    ("status", "content", "expected"),
    [
        ("ACTIVE", None, "use"),
        ("INACTIVE", None, "copy"),
        ("DELETE_IN_PROGRESS", {"family": "api"}, "copy"),
        (None, {"family": "api", "containerDefinitions": []}, "content"),
        (None, None, "missing"),
    ],
)
def test_restore_source(status, content, expected):
    assert restore_source(status, content) == expected


def test_a_redacted_copy_of_a_deleted_revision_is_never_registered():
    content = {"family": "api", "containerDefinitions": [{"name": "api"}]}
    assert restore_source(None, content, ["api: DB_PASS"]) == "redacted"
    assert restore_source("INACTIVE", content, ["api: DB_PASS"]) == "copy"  # ECS still has it


def test_the_stored_form_keeps_no_plain_secret_and_says_where_it_left_them_out():
    content = {
        "family": "api",
        "containerDefinitions": [
            {
                "name": "api",
                "environment": [
                    {"name": "MYSQL_PWD", "value": "hunter2-mysql"},
                    {"name": "ENVIRONMENT", "value": "production"},
                ],
            }
        ],
    }
    entry = ServiceRecord("app-api", td("api", 2), td("api", 1), 2, task_definition_content=content)
    stored = entry.to_dict()
    assert "hunter2-mysql" not in repr(stored)
    assert stored["redacted"] == ["api: MYSQL_PWD"]
    assert stored["task_definition_content"]["containerDefinitions"][0]["environment"] == [
        {"name": "MYSQL_PWD", "value": "***"},
        {"name": "ENVIRONMENT", "value": "production"},
    ]
    assert ServiceRecord.from_dict(stored).to_dict() == stored  # stable through a read
    assert "redacted" not in ServiceRecord("app-api", td("api", 2)).to_dict()
