"""The record's optional `commit` and `phases`: what the delivery figures need."""

from __future__ import annotations

import time

import pytest

from shipline import schemas
from shipline.errors import UsageError
from shipline.release.phases import PhaseClock
from shipline.release.records import (
    CommitRecord,
    PhaseRecord,
    ReleaseRecord,
    commit_from,
    new_release_id,
    parse_timestamp,
)
from support.release_ids import T0

SHA = "0123456789abcdef0123456789abcdef01234567"


def finished_record(**extras: object) -> ReleaseRecord:
    record = ReleaseRecord(release_id=new_release_id(T0), environment="production", **extras)  # type: ignore[arg-type]
    record.finish("succeeded")
    return record


def test_commit_and_phases_are_stored_and_read_back():
    record = finished_record(
        commit=CommitRecord(SHA, "2026-11-26T06:00:00.000Z"),
        phases=[PhaseRecord("preflight", "2026-11-26T07:00:00.000Z", 1.25)],
    )
    document = record.to_dict()
    assert document["commit"] == {"sha": SHA, "committed_at": "2026-11-26T06:00:00.000Z"}
    assert document["phases"] == [
        {"name": "preflight", "started_at": "2026-11-26T07:00:00.000Z", "seconds": 1.25}
    ]
    assert schemas.problems("release-record", document) == []
    assert ReleaseRecord.from_dict(document) == record


def test_a_record_without_them_is_written_without_them_and_reads_as_before():
    document = finished_record().to_dict()
    assert "commit" not in document and "phases" not in document
    record = ReleaseRecord.from_dict(document)
    assert (record.commit, record.phases) == (None, [])


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"commit": {"sha": "main", "committed_at": None}}, "commit.sha"),
        ({"commit": {"sha": SHA}}, "committed_at"),
        ({"commit": {"sha": SHA, "committed_at": "yesterday"}}, "committed_at"),
        (
            {"phases": [{"name": "x", "started_at": "2026-11-26T07:00:00Z", "seconds": -1}]},
            "seconds",
        ),
        ({"phases": [{"name": "", "started_at": "2026-11-26T07:00:00Z", "seconds": 1}]}, "name"),
    ],
)
def test_a_stored_commit_or_phase_that_misses_the_schema_is_refused(change, problem):
    document = {**finished_record().to_dict(), **change}
    assert any(problem in found for found in schemas.problems("release-record", document))


def test_the_commit_comes_from_the_workflow_variables_in_utc():
    commit = commit_from(
        {"SHIPLINE_COMMIT_SHA": SHA.upper(), "SHIPLINE_COMMITTED_AT": "2026-11-26T08:15:00+01:00"}
    )
    assert commit == CommitRecord(SHA, "2026-11-26T07:15:00.000Z")


def test_no_commit_variables_means_no_commit_and_a_sha_alone_has_no_time():
    assert commit_from({}) is None
    assert commit_from({"SHIPLINE_COMMIT_SHA": SHA}) == CommitRecord(SHA, None)


@pytest.mark.parametrize(
    ("variables", "problem"),
    [
        ({"SHIPLINE_COMMIT_SHA": "v1.2.3"}, "SHIPLINE_COMMIT_SHA"),
        ({"SHIPLINE_COMMIT_SHA": SHA[:12]}, "SHIPLINE_COMMIT_SHA"),
        ({"SHIPLINE_COMMIT_SHA": SHA, "SHIPLINE_COMMITTED_AT": "last tuesday"}, "COMMITTED_AT"),
        ({"SHIPLINE_COMMIT_SHA": SHA, "SHIPLINE_COMMITTED_AT": "2026-11-26T08:15:00"}, "offset"),
        ({"SHIPLINE_COMMITTED_AT": "2026-11-26T08:15:00Z"}, "SHIPLINE_COMMIT_SHA is not"),
    ],
)
def test_bad_commit_variables_are_refused_with_the_reason(variables, problem):
    with pytest.raises(UsageError, match=problem) as refused:
        commit_from(variables)
    assert "\n" not in refused.value.message


def test_phases_timed_before_the_record_exists_go_in_first_then_each_as_it_ends():
    clock = PhaseClock()
    with clock.measure("preflight"):
        pass
    record = ReleaseRecord(release_id=new_release_id(T0), environment="production")
    clock.attach(record)
    assert [phase.name for phase in record.phases] == ["preflight"]
    with pytest.raises(RuntimeError), clock.measure("roll out"):
        time.sleep(0.01)
        raise RuntimeError("a phase that fails still took its time")
    preflight, roll_out = record.phases
    assert roll_out.name == "roll out"
    assert roll_out.seconds >= 0.01
    assert parse_timestamp(roll_out.started_at) >= parse_timestamp(preflight.started_at)
