"""`shipline rollback --wait-for-lock SECONDS` and `--break-lock` against the sandbox: a rollback
waits for a held lock instead of being dropped, or breaks a stale one on purpose, recorded."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import yaml
from test_rollback import ENV, deploy, newest, running, shipline

from shipline.config import load_config
from shipline.release.records import new_release_id
from shipline.release.store import History, Lock


@pytest.fixture
def setup(environment, tmp_path):
    """The seeded environment, its shipline.yml (health gives up after 3 s), its history."""
    document = environment.shipline_config(ENV)
    document["environments"][ENV]["health"]["timeout"] = 3
    path = tmp_path / "shipline.yml"
    path.write_text(yaml.safe_dump(document))
    return environment, str(path), load_config(path).environment(ENV)


def test_a_rollback_waits_for_a_held_lock_then_rolls_back(setup):
    seeded, config, env = setup
    r1 = deploy(seeded, env, "v2")
    deploy(seeded, env, "v3")
    holder = new_release_id()
    Lock(env).acquire(holder, holder="octocat@runner-7", ttl_seconds=600)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "shipline",
            "rollback",
            "-e",
            ENV,
            "--config",
            config,
            "--wait-for-lock",
            "120",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )
    try:
        assert process.stderr is not None
        seen = []
        for line in process.stderr:  # the progress line: the rollback is waiting, not refused
            seen.append(line)
            if "waiting for the lock" in line:
                break
        assert holder in seen[-1] and "octocat@runner-7" in seen[-1], "".join(seen)
        assert [r.kind for r in History(env).list()] == ["deploy", "deploy"]  # nothing yet
        Lock(env).release(holder)  # the deploy ahead of it ends
        process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0
    record = newest(env)
    assert (record.kind, record.status, record.rolled_back_to) == (
        "rollback",
        "succeeded",
        r1.release_id,
    )
    assert record.broke_lock is None
    assert Lock(env).status() is None


def test_a_rollback_that_waited_in_vain_is_refused_and_changes_nothing(setup, capsys):
    seeded, config, env = setup
    deploy(seeded, env, "v2")
    deploy(seeded, env, "v3")
    before = running(seeded)
    holder = new_release_id()
    Lock(env).acquire(holder, holder="octocat@runner-7", ttl_seconds=600)

    assert shipline(config, "rollback", "--wait-for-lock", "1") == 2

    error = capsys.readouterr().err
    assert "waiting for the lock" in error and f"locked by release {holder}" in error
    assert running(seeded) == before
    assert Lock(env).status().release_id == holder


def test_break_lock_takes_a_held_lock_and_the_record_and_history_name_it(setup, capsys):
    seeded, config, env = setup
    r1 = deploy(seeded, env, "v2")
    deploy(seeded, env, "v3")
    holder = new_release_id()
    stale = Lock(env).acquire(holder, holder="octocat@runner-7", ttl_seconds=600)

    assert shipline(config, "rollback", "--break-lock") == 0

    record = newest(env)
    assert (record.status, record.rolled_back_to) == ("succeeded", r1.release_id)
    assert record.broke_lock == stale.to_dict()
    assert Lock(env).status() is None  # the rollback released its own lock at the end
    capsys.readouterr()
    assert shipline(config, "history") == 0
    listing = capsys.readouterr().out
    assert f"broke the lock of release {holder} held by octocat@runner-7" in listing


def test_wait_and_break_are_one_choice(setup, capsys):
    _, config, _ = setup
    try:
        code = shipline(config, "rollback", "--break-lock", "--wait-for-lock", "5")
    except SystemExit as exc:
        code = int(exc.code or 0)
    assert code == 2
    assert "not allowed with argument" in capsys.readouterr().err
