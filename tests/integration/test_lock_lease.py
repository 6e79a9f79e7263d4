"""The lock lease of a running release against the sandbox's S3: renewals are conditional on
the release's own last write, and a lost lock stays lost and names who holds it."""

from __future__ import annotations

import json

import pytest
import yaml

from shipline.config import load_config
from shipline.errors import LockedError
from shipline.release.records import new_release_id, parse_timestamp
from shipline.release.store import Lock, LockLease, LockLostError


@pytest.fixture
def env(environment, tmp_path):
    path = tmp_path / "shipline.yml"
    path.write_text(yaml.safe_dump(environment.shipline_config("sim")))
    return load_config(path).environment("sim")


def test_a_renewed_lock_outlives_its_first_expiry_and_keeps_others_out(env):
    lock = Lock(env)
    held = lock.acquire(new_release_id(), holder="a@runner", ttl_seconds=1)
    lease = LockLease(lock, held, ttl_seconds=600)

    renewed = lease.renew()

    assert parse_timestamp(renewed.expires_at) > parse_timestamp(held.expires_at)
    assert lock.status().expires_at == renewed.expires_at
    with pytest.raises(LockedError):
        lock.acquire(new_release_id(), holder="b@runner", ttl_seconds=60)


def test_a_lock_written_by_anyone_else_is_lost_for_good(env, sandbox):
    lock = Lock(env)
    release_id = new_release_id()
    held = lock.acquire(release_id, holder="a@runner", ttl_seconds=600)
    lease = LockLease(lock, held, ttl_seconds=600)
    # The same lock written again (e.g. expired and taken over): another ETag, not ours.
    s3 = sandbox.client("s3")
    other = {**held.to_dict(), "release_id": new_release_id(), "holder": "b@runner"}
    s3.put_object(
        Bucket=env.history_bucket,
        Key=f"{env.history_prefix}lock.json",
        Body=json.dumps(other).encode(),
    )

    with pytest.raises(LockLostError) as lost:
        lease.assert_held()

    assert lost.value.exit_code == 3
    assert f"release {release_id} lost the lock of sim" in lost.value.message
    assert f"release {other['release_id']} by b@runner" in lost.value.message
    assert lock.status().release_id == other["release_id"]  # theirs, untouched
    with pytest.raises(LockLostError):
        lease.renew()  # no second try: the release stops changing the environment
