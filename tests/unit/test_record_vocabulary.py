"""The statuses and kinds the code compares are the record schema's, value for value: the
schema is the contract, and the types mypy checks the code against must not drift from it."""

from __future__ import annotations

from typing import get_args

from shipline import schemas
from shipline.release import records, session

SCHEMA = schemas.load("release-record")["properties"]


def test_record_kinds_are_the_schemas():
    assert list(get_args(records.ReleaseKind)) == SCHEMA["kind"]["enum"]
    assert list(records.KINDS) == SCHEMA["kind"]["enum"]


def test_record_statuses_are_the_schemas_and_every_one_but_in_progress_is_final():
    assert list(records.STATUSES) == SCHEMA["status"]["enum"]
    assert set(SCHEMA["status"]["enum"]) - {"in_progress"} == records.FINAL_STATUSES
    assert set(get_args(records.FinalStatus)) == records.FINAL_STATUSES


def test_terraform_statuses_are_the_schemas():
    terraform = SCHEMA["terraform"]["properties"]["status"]["enum"]
    assert list(get_args(session.TerraformStatus)) == terraform
    assert set(terraform) - {"unchanged"} == session.TERRAFORM_STARTED


def test_a_record_with_every_kind_and_status_keeps_its_json_values():
    for kind in records.KINDS:
        for status in records.STATUSES:
            record = records.ReleaseRecord("20261126T071500Z-1a2b3c", "production", kind)
            if kind == "rollback":
                record.rolled_back_to = "20261125T071500Z-1a2b3c"
            if status != "in_progress":
                record.finish(status, None if status == "succeeded" else "why")
            stored = record.to_dict()
            assert (stored["kind"], stored["status"]) == (kind, status)
            assert records.ReleaseRecord.from_dict(stored).to_dict() == stored
