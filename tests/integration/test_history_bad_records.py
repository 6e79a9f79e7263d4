"""Bad objects in the history prefix, tried as an attacker: skipped and reported by S3 key.

One unreadable object must not block `history` or `rollback`, and a record is accepted only
where its S3 key, its `release_id` and its `environment` agree: a valid record copied under
another release's key, or naming another environment, is not that release.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import test_history
import test_rollback
from test_history import BUCKET, T0, record
from test_rollback import running

from shipline import aws, cli
from shipline.release.records import RecordError, new_release_id
from shipline.release.store import History

PREFIX = "releases/production/"
# The history tests' bucket, environment and shipline.yml; the rollback tests' seeded setup.
s3 = test_history.s3
env = test_history.env
config_file = test_history.config_file
setup = test_rollback.setup


def put(client, bucket: str, key: str, document) -> None:
    client.put_object(Bucket=bucket, Key=key, Body=json.dumps(document).encode())


def free_id(minute: int) -> str:
    return new_release_id(T0 + timedelta(minutes=minute))


def test_history_lists_the_good_records_and_warns_once_per_unreadable_key(
    env, config_file, s3, capsys
):
    history = History(env)
    good = [record(1, revision=3), record(3, revision=4)]
    for release in good:
        history.create(release)
    garbage_key = f"{PREFIX}{free_id(2)}.json"
    put(s3, BUCKET, garbage_key, {"garbage": True})
    not_json_key = f"{PREFIX}{free_id(4)}.json"
    s3.put_object(Bucket=BUCKET, Key=not_json_key, Body=b"{not json")

    code = cli.main(["history", "-e", "production", "--config", config_file])

    captured = capsys.readouterr()
    assert code == 0, captured.err
    listed = [line.split()[0] for line in captured.out.splitlines()[1:]]
    assert listed == [good[1].release_id, good[0].release_id]
    warnings = [line for line in captured.err.splitlines() if "skipped" in line]
    assert len(warnings) == 2, captured.err
    assert any(f"s3://{BUCKET}/{garbage_key}" in line for line in warnings)
    assert any(f"s3://{BUCKET}/{not_json_key}" in line for line in warnings)
    assert "'?'" not in captured.err

    assert cli.main(["history", "-e", "production", "--config", config_file, "--json"]) == 0
    captured = capsys.readouterr()
    assert [entry["release_id"] for entry in json.loads(captured.out)] == listed
    assert f"s3://{BUCKET}/{garbage_key}" in captured.err


def test_a_record_under_another_releases_key_is_not_that_release(env, s3):
    history = History(env)
    real = record(1)
    history.create(real)
    copied_key = f"{PREFIX}{free_id(5)}.json"
    put(s3, BUCKET, copied_key, real.to_dict())

    listed = history.list()

    assert [found.release_id for found in listed] == [real.release_id]
    assert [item.uri for item in history.unreadable] == [f"s3://{BUCKET}/{copied_key}"]
    assert real.release_id in history.unreadable[0].reason
    with pytest.raises(RecordError, match=copied_key):
        history.get(copied_key.rsplit("/", 1)[1].removesuffix(".json"))


def test_a_record_naming_another_environment_is_not_accepted(env, s3):
    history = History(env)
    kept = record(1)
    history.create(kept)
    stranger = record(2, environment="staging")
    put(s3, BUCKET, f"{PREFIX}{stranger.release_id}.json", stranger.to_dict())

    listed = history.list()

    assert [found.release_id for found in listed] == [kept.release_id]
    [skipped] = history.unreadable
    assert skipped.uri.endswith(f"{stranger.release_id}.json")
    assert "staging" in skipped.reason
    with pytest.raises(RecordError, match="staging"):
        history.get(stranger.release_id)


def test_rollback_ignores_an_unreadable_record_and_says_so(setup, capsys):
    seeded, config, env = setup
    first = test_rollback.deploy(seeded, env, "v2")
    test_rollback.deploy(seeded, env, "v3")
    garbage_key = f"{env.history_prefix}{new_release_id()}.json"
    put(aws.client("s3"), env.history_bucket, garbage_key, {"garbage": True})

    code = cli.main(["rollback", "-e", "sim", "--config", config])

    err = capsys.readouterr().err
    assert code == 0, err
    assert f"s3://{env.history_bucket}/{garbage_key}" in err and "ignored" in err
    now = running(seeded)
    assert {key: now[key][0] for key in ("api", "web", "worker")} == first.task_definitions
