"""Release records and the environment lock against the sandbox's S3, over HTTP."""

from __future__ import annotations

import functools
import json
import threading
from datetime import timedelta

import pytest
import yaml

from shipline import cli
from shipline.config import Environment, HealthSettings, Wait, load_config
from shipline.errors import EXIT_REFUSED, LockedError, PreflightError, UsageError
from shipline.release.records import (
    RecordError,
    ReleaseRecord,
    ServiceRecord,
    new_release_id,
)
from shipline.release.store import History, Lock, LockInfo, RecordConflictError
from support.release_ids import T0

BUCKET = "shipline-history-test"
TD = "arn:aws:ecs:us-east-1:123456789012:task-definition/api:{}"


def make_environment(name: str = "production", bucket: str = BUCKET) -> Environment:
    return Environment(
        name=name,
        region="us-east-1",
        cluster="cluster",
        history=f"s3://{bucket}/releases",
        services={},
        migrate=None,
        wait=Wait(timeout=10, poll=0.1),
        health=HealthSettings(timeout=5, interval=0.1, successes=1, request_timeout=1),
        rollback="auto",
    )


@pytest.fixture
def s3(sandbox):
    from shipline import aws

    client = aws.client("s3")
    client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture
def env(s3) -> Environment:
    return make_environment()


def record(minute: int, revision: int = 1, environment: str = "production") -> ReleaseRecord:
    return ReleaseRecord(
        release_id=new_release_id(T0 + timedelta(minutes=minute)),
        environment=environment,
        services={
            "api": ServiceRecord(
                service="app-api",
                task_definition=TD.format(revision),
                previous_task_definition=TD.format(revision - 1) if revision > 1 else None,
                desired_count=2,
            )
        },
    )


def stored(s3, key: str) -> dict:
    return json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())


# --- records -------------------------------------------------------------------------------


def test_a_record_is_stored_under_the_environment_and_read_back(env, s3):
    history = History(env)
    release = record(1)
    history.create(release)
    key = f"releases/production/{release.release_id}.json"
    assert stored(s3, key) == release.to_dict()
    assert history.uri(release.release_id) == f"s3://{BUCKET}/{key}"
    assert History(env).get(release.release_id) == release


def test_create_never_overwrites_a_record(env, s3):
    first = record(1, revision=1)
    History(env).create(first)
    same_id = record(1, revision=2)
    same_id.release_id = first.release_id
    with pytest.raises(RecordConflictError, match="already exists") as caught:
        History(env).create(same_id)
    assert caught.value.exit_code == EXIT_REFUSED
    key = f"releases/production/{first.release_id}.json"
    assert stored(s3, key)["services"]["api"]["task_definition"] == TD.format(1)


def test_updates_follow_the_records_own_etag(env, s3):
    mine = History(env)
    release = record(1)
    mine.create(release)
    release.status = "in_progress"
    release.images = {"api": "api:v2"}
    mine.update(release)
    release.finish("succeeded")
    mine.update(release)
    key = f"releases/production/{release.release_id}.json"
    assert stored(s3, key)["status"] == "succeeded"


def test_an_update_on_a_stale_etag_fails_and_keeps_the_other_writers_version(env, s3):
    mine, theirs = History(env), History(env)
    release = record(1)
    mine.create(release)
    their_copy = theirs.get(release.release_id)
    their_copy.finish("failed", error="changed elsewhere")
    theirs.update(their_copy)
    release.finish("succeeded")
    with pytest.raises(RecordConflictError, match="changed or removed by someone else"):
        mine.update(release)
    key = f"releases/production/{release.release_id}.json"
    assert stored(s3, key)["error"] == "changed elsewhere"


def test_an_update_without_a_known_etag_is_refused(env):
    release = record(1)
    History(env).create(release)
    with pytest.raises(RecordError, match="own ETag"):
        History(env).update(release)


def test_a_record_that_misses_the_schema_is_never_written(env, s3):
    release = record(1)
    release.status = "finished"
    with pytest.raises(RecordError, match="status"):
        History(env).create(release)
    assert s3.list_objects_v2(Bucket=BUCKET).get("KeyCount", 0) == 0


def test_a_record_for_another_environment_is_refused(env):
    with pytest.raises(RecordError, match="'staging', not 'production'"):
        History(env).create(record(1, environment="staging"))


def test_list_is_newest_first_with_a_limit_and_every_record_fits_the_schema(env, s3):
    history = History(env)
    releases = [record(minute, revision=minute) for minute in (3, 1, 4, 2, 5)]
    for release in releases:
        history.create(release)
    Lock(env).acquire(releases[0].release_id, holder="ci@host")
    # Another environment's records and stray files are not this history.
    History(make_environment("staging")).create(record(9, environment="staging"))
    s3.put_object(Bucket=BUCKET, Key="releases/production/notes.txt", Body=b"x")

    listed = History(env).list()
    expected = sorted(r.release_id for r in releases)[::-1]
    assert [r.release_id for r in listed] == expected
    assert [r.release_id for r in History(env).list(limit=2)] == expected[:2]
    for key in s3.list_objects_v2(Bucket=BUCKET, Prefix="releases/production/2")["Contents"]:
        ReleaseRecord.from_dict(stored(s3, key["Key"]))  # raises when it does not fit


def test_a_tampered_record_is_skipped_and_reported_by_its_key(env, s3):
    release, kept = record(1), record(2)
    History(env).create(release)
    History(env).create(kept)
    key = f"releases/production/{release.release_id}.json"
    document = {**release.to_dict(), "status": "great"}
    s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps(document).encode())
    history = History(env)
    assert [found.release_id for found in history.list()] == [kept.release_id]
    [skipped] = history.unreadable
    assert skipped.uri == f"s3://{BUCKET}/{key}" and "schema" in skipped.reason
    with pytest.raises(RecordError, match=key):
        history.get(release.release_id)


def test_get_of_an_unknown_release_is_a_usage_error(env):
    with pytest.raises(UsageError, match="no release 20990101T000000Z-000000") as caught:
        History(env).get("20990101T000000Z-000000")
    assert caught.value.exit_code == EXIT_REFUSED


def test_an_unreachable_history_fails_preflight(sandbox):
    with pytest.raises(PreflightError, match="NoSuchBucket"):
        History(make_environment(bucket="no-such-bucket")).check_reachable()


# --- the lock ------------------------------------------------------------------------------


def test_a_held_lock_refuses_a_second_release_naming_the_holder(env):
    first = new_release_id()
    held = Lock(env).acquire(first, holder="octocat@runner-1", run_url="https://ci/run/1")
    assert Lock(env).status() == held
    with pytest.raises(LockedError) as caught:
        Lock(env).acquire(new_release_id(), holder="someone@laptop")
    message = str(caught.value)
    assert caught.value.exit_code == EXIT_REFUSED
    assert first in message
    assert "octocat@runner-1" in message
    assert "https://ci/run/1" in message


def test_the_lock_document_fits_its_schema(env, s3):
    Lock(env).acquire(new_release_id(), holder="octocat@runner-1", ttl_seconds=60)
    document = stored(s3, "releases/production/lock.json")
    assert LockInfo.from_dict(document).holder == "octocat@runner-1"
    assert set(document) == {"holder", "release_id", "run_url", "acquired_at", "expires_at"}


def race(attempts: list) -> tuple[list, list]:
    """Run every attempt in its own thread, all released at the same instant."""
    start = threading.Barrier(len(attempts))
    won, lost = [], []

    def contender(attempt) -> None:
        start.wait()
        try:
            won.append(attempt())
        except LockedError as exc:
            lost.append(exc)

    threads = [threading.Thread(target=contender, args=(attempt,)) for attempt in attempts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return won, lost


def contenders(env, count: int) -> list:
    """`count` runs trying to take the lock, each with its own release id."""
    return [
        functools.partial(Lock(env).acquire, new_release_id(), holder=f"runner-{index}")
        for index in range(count)
    ]


def test_of_many_simultaneous_acquisitions_exactly_one_wins(env):
    for _ in range(5):
        # Each contender thread talks over its own pooled connection.
        won, lost = race(contenders(env, 8))
        assert len(won) == 1
        assert len(lost) == 7
        assert Lock(env).status().release_id == won[0].release_id
        Lock(env).release(won[0].release_id)


def test_an_expired_lock_is_taken_over(env):
    stale = new_release_id(T0)
    Lock(env).acquire(stale, holder="gone@runner", ttl_seconds=60, now=T0)
    fresh = new_release_id()
    taken = Lock(env).acquire(fresh, holder="octocat@runner-2")
    assert Lock(env).status() == taken
    # The run that held the expired lock must not remove the new holder's lock.
    with pytest.raises(LockedError, match=f"not by release {stale}"):
        Lock(env).release(stale)
    assert Lock(env).status().release_id == fresh


def test_of_many_simultaneous_takeovers_of_an_expired_lock_exactly_one_wins(env):
    for round_number in range(5):
        Lock(env).acquire(new_release_id(T0), holder="gone", ttl_seconds=1, now=T0)
        won, lost = race(contenders(env, 6))
        assert len(lost) == 5
        assert len(won) == 1, f"round {round_number}: {len(won)} winners"
        assert Lock(env).status().release_id == won[0].release_id
        Lock(env).release()


def test_release_removes_only_the_named_releases_lock(env):
    mine = new_release_id()
    Lock(env).acquire(mine, holder="me")
    with pytest.raises(LockedError, match="left in place"):
        Lock(env).release(new_release_id())
    assert Lock(env).release(mine).release_id == mine
    assert Lock(env).status() is None
    assert Lock(env).release(mine) is None  # already gone: nothing to do


def test_release_without_an_id_removes_whoever_holds_it(env):
    Lock(env).acquire(new_release_id(), holder="stuck")
    assert Lock(env).release().holder == "stuck"
    assert Lock(env).status() is None


# --- the commands --------------------------------------------------------------------------


@pytest.fixture
def config_file(env, tmp_path):
    document = {
        "version": 1,
        "environments": {
            "production": {
                "region": "us-east-1",
                "cluster": "cluster",
                "history": env.history,
                "services": {"api": {"service": "app-api"}},
            }
        },
    }
    path = tmp_path / "shipline.yml"
    path.write_text(yaml.safe_dump(document))
    assert load_config(path).environment("production").history_bucket == BUCKET
    return str(path)


def shipline(*argv: str) -> int:
    return cli.main(list(argv))


def test_history_command_prints_a_table_newest_first(env, config_file, capsys):
    history = History(env)
    old, new = record(1, revision=3), record(2, revision=4)
    history.create(old)
    new.finish("failed", error="migration exited 1")
    history.create(new)
    assert shipline("history", "-e", "production", "--config", config_file) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["RELEASE", "KIND", "STATUS", "STARTED", "TOOK", "ACTOR", "WHAT"]
    assert lines[1].startswith(new.release_id)
    assert "failed" in lines[1]
    assert "(migration exited 1)" in lines[1]
    assert lines[2].startswith(old.release_id)
    assert "api=api:3" in lines[2]


def test_history_command_limit_and_json(env, config_file, capsys):
    history = History(env)
    releases = [record(minute) for minute in (1, 2, 3)]
    for release in releases:
        release.services["api"].task_definition_content = {
            "family": "api",
            "containerDefinitions": [{"name": "api", "environment": [{"name": "K", "value": "v"}]}],
        }
        history.create(release)
    argv = ["history", "-e", "production", "--config", config_file, "--limit", "2", "--json"]
    assert shipline(*argv) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [item["release_id"] for item in listed] == [
        releases[2].release_id,
        releases[1].release_id,
    ]
    assert "task_definition_content" not in listed[0]["services"]["api"]


def test_history_command_refuses_a_bad_limit(config_file, capsys):
    assert shipline("history", "-e", "production", "--config", config_file, "--limit", "0") == 2
    assert "--limit 0" in capsys.readouterr().err


def test_lock_commands(env, config_file, capsys):
    assert shipline("lock", "status", "-e", "production", "--config", config_file, "--json") == 0
    assert json.loads(capsys.readouterr().out) == {"environment": "production", "locked": False}

    holder = new_release_id()
    Lock(env).acquire(holder, holder="octocat@runner", ttl_seconds=600)
    assert shipline("lock", "status", "-e", "production", "--config", config_file, "--json") == 0
    status = json.loads(capsys.readouterr().out)
    assert (status["locked"], status["release_id"], status["expired"]) == (True, holder, False)

    # A lock that is still valid is released only on purpose.
    assert shipline("lock", "release", "-e", "production", "--config", config_file) == 2
    assert "--force" in capsys.readouterr().err
    assert Lock(env).status().release_id == holder
    other = new_release_id()
    argv = ["lock", "release", "-e", "production", "--config", config_file]
    assert shipline(*argv, "--release-id", other) == 2
    assert Lock(env).status().release_id == holder
    assert shipline(*argv, "--force") == 0
    assert Lock(env).status() is None
    assert shipline(*argv) == 0
    assert "not locked" in capsys.readouterr().err


def test_lock_release_removes_an_expired_lock_without_force(env, config_file):
    Lock(env).acquire(new_release_id(T0), holder="gone", ttl_seconds=60, now=T0)
    assert shipline("lock", "release", "-e", "production", "--config", config_file) == 0
    assert Lock(env).status() is None
