"""The ping when a release ends, against a webhook receiver on loopback (docs/notifications.md).

Every release kind ends through the release session, which pings after the record is written
and the lock released: one payload that fits schemas/webhook-payload.schema.json. A receiver
that fails (500) or hangs gets a bounded number of attempts and one line naming its host; the
release's status, record and exit code stay what they were. The URL (a token in its path, as
Slack's are) never shows up in the output, the record or the payload.
"""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from shipline import schemas
from shipline.release import notify
from support.deploy_support import lock_exists, records, run_cli, write_config
from support.webhook_receiver import TOKEN_PATH, webhook_receiver

NOTIFY = {"webhook": "${SHIPLINE_WEBHOOK_URL}", "timeout": 0.5}
FAST = {"services": {"*": {"converge_seconds": 0.2}}, "tasks": {"*": {"run_seconds": 0.2}}}


@pytest.fixture
def config(tmp_path, environment):
    return write_config(tmp_path, environment, notify=NOTIFY)


def deploy(capsys, config, environment, tag="v2", *extra):
    images = [f"--image={key}={environment.image(key, tag)}" for key in ("api", "web")]
    return run_cli(capsys, "deploy", "--config", str(config), "-e", "sim", *images, *extra)


def assert_url_nowhere(receiver, ran, environment, s3):
    """Neither the URL nor its token anywhere a person or the history could read."""
    token = TOKEN_PATH.rsplit("/", 1)[-1]
    shown = [
        line
        for line in (ran.out + ran.err).splitlines()
        if token in line and not line.startswith("::add-mask::")
    ]
    assert shown == []
    for record in records(environment, s3):
        assert token not in str(record)
    for payload in receiver.payloads:
        assert token not in str(payload)


def the_payload(receiver):
    [payload] = receiver.payloads
    assert schemas.problems("webhook-payload", payload) == []
    return payload


def test_a_deploy_pings_once_with_the_release(
    capsys, sandbox, environment, config, s3, tmp_path, monkeypatch
):
    sandbox.policy(FAST)
    # In Actions: the URL is masked (the runner reads `::add-mask::` and never shows it).
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path / "outputs"))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "summary.md"))
    with webhook_receiver() as receiver:
        # When the ping arrives, the record says how the release ended and the lock is gone.
        receiver.on_post = lambda: ([r["status"] for r in records(environment, s3)],
                                    lock_exists(environment, s3))  # fmt: skip
        monkeypatch.setenv("SHIPLINE_WEBHOOK_URL", receiver.url)
        ran = deploy(capsys, config, environment, "v2", "--json")

    assert ran.code == 0, ran.err
    assert receiver.seen == [(["succeeded"], False)]
    [record] = records(environment, s3)
    [post] = receiver.posts
    assert post["path"] == TOKEN_PATH
    assert post["headers"]["Content-Type"] == "application/json"
    payload = the_payload(receiver)
    release = payload["release"]
    assert release["release_id"] == record["release_id"]
    assert (release["environment"], release["kind"], release["status"]) == (
        "sim",
        "deploy",
        "succeeded",
    )
    assert release["finished_at"] == record["finished_at"]
    assert release["record"] == f"s3://{environment.history_bucket}/releases/sim/" + (
        record["release_id"] + ".json"
    )
    for key, entry in record["services"].items():
        assert release["services"][key]["before"] == entry["previous_task_definition"]
        assert release["services"][key]["after"] == entry["task_definition"]
    assert record["release_id"] in payload["text"] and "succeeded" in payload["text"]
    assert f"::add-mask::{receiver.url}" in ran.err
    assert f"pinged 127.0.0.1: release {record['release_id']} succeeded" in ran.err
    assert_url_nowhere(receiver, ran, environment, s3)


def test_a_receiver_answering_500_gets_bounded_attempts_and_one_line(
    capsys, sandbox, environment, config, s3, monkeypatch
):
    sandbox.policy(FAST)
    with webhook_receiver(500) as receiver:
        monkeypatch.setenv("SHIPLINE_WEBHOOK_URL", receiver.url)
        ran = deploy(capsys, config, environment)

    assert ran.code == 0, ran.err
    assert len(receiver.posts) == notify.ATTEMPTS
    assert len({post["body"] for post in receiver.posts}) == 1  # the same payload each time
    [record] = records(environment, s3)
    assert record["status"] == "succeeded"
    [note] = [line for line in ran.err.splitlines() if "ping" in line]
    assert note == (
        f"note: the ping to 127.0.0.1 failed after {notify.ATTEMPTS} attempts (HTTP 500); "
        "the release's outcome is unchanged"
    )
    assert_url_nowhere(receiver, ran, environment, s3)


def test_a_receiver_that_never_answers_does_not_hold_the_release(
    capsys, sandbox, environment, config, s3, monkeypatch
):
    sandbox.policy(FAST)
    with webhook_receiver(hang=True) as receiver:
        monkeypatch.setenv("SHIPLINE_WEBHOOK_URL", receiver.url)
        # The deploy returns (the receiver is still holding every request open).
        ran = deploy(capsys, config, environment)
        assert not receiver.stopping.is_set()

    assert ran.code == 0, ran.err
    assert len(receiver.posts) == notify.ATTEMPTS
    [record] = records(environment, s3)
    assert record["status"] == "succeeded"
    assert not lock_exists(environment, s3)
    assert "failed after 3 attempts (no answer within 0.5s)" in ran.err
    assert_url_nowhere(receiver, ran, environment, s3)


def test_a_refused_receiver_is_not_tried_again_and_a_failing_deploy_keeps_its_exit_code(
    capsys, sandbox, environment, s3, tmp_path, monkeypatch
):
    # The new web image fails its health check (within 2 s): the deploy rolls back, exits 1.
    health = {"timeout": 2, "interval": 0.1, "successes": 2, "request_timeout": 1}
    config = write_config(tmp_path, environment, notify=NOTIFY, health=health)
    sandbox.policy({**FAST, "services": {"*": {"converge_seconds": 0.2, "unhealthy": "web:v5"}}})
    with webhook_receiver(404) as receiver:
        monkeypatch.setenv("SHIPLINE_WEBHOOK_URL", receiver.url)
        ran = deploy(capsys, config, environment, "v5")

    assert ran.code == 1, ran.err
    [record] = records(environment, s3)
    assert record["status"] == "rolled_back"
    assert len(receiver.posts) == 1  # a 404 says the URL is wrong: no retry
    payload = the_payload(receiver)
    assert payload["release"]["status"] == "rolled_back"
    assert payload["release"]["error"] == record["error"]
    assert "failed after 1 attempt (HTTP 404)" in ran.err


def test_a_manual_rollback_pings(capsys, sandbox, environment, config, s3, monkeypatch):
    sandbox.policy(FAST)
    monkeypatch.setenv("SHIPLINE_WEBHOOK_URL", "")  # no ping for the two deploys
    for tag in ("v2", "v3"):
        assert deploy(capsys, config, environment, tag).code == 0
    with webhook_receiver() as receiver:
        monkeypatch.setenv("SHIPLINE_WEBHOOK_URL", receiver.url)
        ran = run_cli(capsys, "rollback", "--config", str(config), "-e", "sim")

    assert ran.code == 0, ran.err
    first, _, rollback = records(environment, s3)
    release = the_payload(receiver)["release"]
    assert (release["kind"], release["status"]) == ("rollback", "succeeded")
    assert release["release_id"] == rollback["release_id"]
    assert release["rolled_back_to"] == first["release_id"]
    assert_url_nowhere(receiver, ran, environment, s3)


def test_a_scale_to_zero_and_a_migration_ping_too(
    capsys, sandbox, environment, config, s3, monkeypatch
):
    sandbox.policy(FAST)
    common = ("--config", str(config), "-e", "sim")
    with webhook_receiver() as receiver:
        monkeypatch.setenv("SHIPLINE_WEBHOOK_URL", receiver.url)
        migrated = run_cli(
            capsys, "migrate", *common, f"--image=api={environment.image('api', 'v2')}"
        )
        stopped = run_cli(capsys, "rollback", *common, "--scale-to-zero")

    assert (migrated.code, stopped.code) == (0, 0), migrated.err + stopped.err
    assert all(schemas.problems("webhook-payload", p) == [] for p in receiver.payloads)
    migration, scaled = (payload["release"] for payload in receiver.payloads)
    assert (migration["kind"], migration["status"]) == ("migrate", "succeeded")
    assert (scaled["kind"], scaled["status"]) == ("scale-to-zero", "succeeded")
    counts = {key: entry["desired_count_after"] for key, entry in scaled["services"].items()}
    assert counts == {"api": 0, "web": 0, "worker": 0}
    assert "(2 -&gt; 0 tasks)" in receiver.payloads[1]["text"]


def test_an_empty_webhook_sends_nothing_and_says_so(
    capsys, sandbox, environment, config, s3, monkeypatch
):
    sandbox.policy(FAST)
    monkeypatch.setenv("SHIPLINE_WEBHOOK_URL", "")
    ran = deploy(capsys, config, environment)
    assert ran.code == 0, ran.err
    assert "no ping sent: environments.sim.notify.webhook is empty" in ran.err


def test_the_clean_up_of_a_session_pings_the_release_it_ends(
    capsys, sandbox, environment, config, s3, monkeypatch
):
    with webhook_receiver() as receiver:
        monkeypatch.setenv("SHIPLINE_WEBHOOK_URL", receiver.url)
        opened = run_cli(capsys, "lock", "acquire", "--config", str(config), "-e", "sim")
        assert opened.code == 0, opened.err
        release_id = opened.out.strip()
        assert receiver.posts == []  # opening a session ends nothing
        common = ("--config", str(config), "-e", "sim", "--release-id", release_id)
        ended = run_cli(capsys, "lock", "release", *common, "--finish-record")
        again = run_cli(capsys, "lock", "release", *common, "--finish-record")

    assert ended.code == 0 and again.code == 0, ended.err + again.err
    release = the_payload(receiver)["release"]  # one ping: the second call ended nothing
    assert (release["release_id"], release["status"]) == (release_id, "failed")
    assert release["error"] == "the run stopped before the release ended (clean-up step)"


def test_an_interrupted_deploy_pings(sandbox, environment, config, s3, monkeypatch):
    # The rollout is held open; SIGTERM ends the release as interrupted (exit 3: services moved).
    sandbox.policy({**FAST, "services": {"*": {"converge_seconds": 60}}})
    with webhook_receiver() as receiver:
        monkeypatch.setenv("SHIPLINE_WEBHOOK_URL", receiver.url)
        command = [sys.executable, "-m", "shipline", "deploy", "--config", str(config), "-e"]
        command += ["sim", *(f"--image={k}={environment.image(k, 'v2')}" for k in ("api", "web"))]
        command += ["--verbose"]  # the line that says the services are moving
        process = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.PIPE)
        assert process.stderr is not None
        seen = b""
        while b"waiting for them together" not in seen:
            line = process.stderr.readline()
            assert line, f"deploy exited early: {seen.decode()}"
            seen += line
        process.send_signal(signal.SIGTERM)
        out, rest = process.communicate(timeout=60)
        sandbox.policy(FAST)

    err = (seen + rest).decode()
    assert process.returncode == 3, err
    [record] = records(environment, s3)
    assert record["status"] == "interrupted"
    release = the_payload(receiver)["release"]
    assert (release["status"], release["error"]) == ("interrupted", record["error"])
    assert "SIGTERM" in release["error"]
    token = TOKEN_PATH.rsplit("/", 1)[-1]
    assert token not in out.decode() + err
