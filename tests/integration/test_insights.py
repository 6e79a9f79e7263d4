"""Records carry the commit and the phases; `shipline insights` reads them back, over HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from shipline.release.records import parse_timestamp, utc_timestamp
from support.deploy_support import DEPLOY_PHASES, records, run_cli, write_config

SHA_V2 = "2" * 40
SHA_V3 = "3" * 40


@pytest.fixture
def config(tmp_path, environment):
    return write_config(tmp_path, environment)


def deploy(capsys, config, environment, tag, sha, committed_at, monkeypatch):
    monkeypatch.setenv("SHIPLINE_COMMIT_SHA", sha)
    monkeypatch.setenv("SHIPLINE_COMMITTED_AT", committed_at)
    images = [f"{key}={environment.image(key, tag)}" for key in ("api", "web")]
    argv = ["deploy", "--config", str(config), "-e", "sim"]
    return run_cli(capsys, *argv, *[arg for image in images for arg in ("--image", image)])


def test_records_carry_commit_and_phases_and_insights_count_the_rolled_back_deploy(
    capsys, sandbox, environment, config, monkeypatch
):
    s3 = sandbox.client("s3")
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    # git's %cI form, with an offset: the record keeps it in UTC.
    committed = an_hour_ago.astimezone(UTC).replace(microsecond=0)
    with_offset = committed.astimezone(timezone(timedelta(hours=2))).isoformat()

    assert deploy(capsys, config, environment, "v2", SHA_V2, with_offset, monkeypatch).code == 0
    assert deploy(capsys, config, environment, "v3", SHA_V3, with_offset, monkeypatch).code == 0
    monkeypatch.delenv("SHIPLINE_COMMIT_SHA")
    monkeypatch.delenv("SHIPLINE_COMMITTED_AT")
    rolled = run_cli(capsys, "rollback", "--config", str(config), "-e", "sim")
    assert rolled.code == 0, rolled.err

    v2, v3, rollback = records(environment, s3)
    assert v2["commit"] == {"sha": SHA_V2, "committed_at": utc_timestamp(committed)}
    assert [phase["name"] for phase in v2["phases"]] == DEPLOY_PHASES
    # In the order they ran (the preflight runs before the record exists: it starts earlier).
    starts = [parse_timestamp(phase["started_at"]) for phase in v2["phases"]]
    assert starts == sorted(starts)
    assert all(phase["seconds"] >= 0 for phase in v2["phases"])
    # The rollback runs v2's images again: it carries v2's commit, and times its own phases.
    assert rollback["rolled_back_to"] == v2["release_id"]
    assert rollback["commit"] == v2["commit"]
    # (No revision had to be registered again: no `register task definitions` phase.)
    assert [phase["name"] for phase in rollback["phases"]] == [
        "roll back",
        "verify",
    ]

    ran = run_cli(capsys, "insights", "--config", str(config), "-e", "sim", "--json")
    assert ran.code == 0, ran.err
    document = ran.json()
    total = document["total"]
    assert (document["read"]["records"], document["read"]["unreadable"]) == (3, 0)
    assert isinstance(document["read"]["seconds"], float)
    assert total["deployment_frequency"]["deployments"] == 2
    # v3 was rolled back from by hand: a failure, and the rollback restored service.
    assert total["change_failure_rate"] == {"rate": 0.5, "failures": 1, "attempts": 2}
    assert total["time_to_restore"]["restored"] == 1
    assert document["incidents"][0]["failed_release"] == v3["release_id"]
    assert document["incidents"][0]["restored_by"] == rollback["release_id"]
    assert total["lead_time"]["deployments_with_commit"] == 2
    assert total["lead_time"]["median_seconds"] >= 3600
    assert "read 3 of the 3 release records of sim in" in ran.err

    report = config.parent / "report.html"
    summary = config.parent / "summary.md"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    table = run_cli(capsys, "insights", "--config", str(config), "-e", "sim", "--html", str(report))
    assert table.code == 0
    assert report.read_text(encoding="utf-8").count('<circle class="release"') == 3
    assert "slowest phase: " in table.out
    # In Actions, the job summary gets the figures and the weekly chart.
    written = summary.read_text(encoding="utf-8")
    assert "| change failure rate | 50% | 1 failures in 2 attempts |" in written
    assert "```mermaid\nxychart-beta\n" in written
    assert table.out.splitlines()[2].split()[:3] == ["WEEK", "DEPLOYS", "PER"]
    assert "DEPLOYS: deploys that succeeded" in table.out
    last_row = [line for line in table.out.splitlines() if line.startswith("all ")]
    assert last_row[0].split()[1] == "2"


def test_a_bad_commit_variable_refuses_the_deploy_before_any_change(
    capsys, sandbox, environment, config, monkeypatch
):
    ran = deploy(capsys, config, environment, "v2", "not-a-sha", "", monkeypatch)
    assert ran.code == 2
    assert "SHIPLINE_COMMIT_SHA" in ran.err
    assert records(environment, sandbox.client("s3")) == []


@pytest.mark.parametrize(
    ("option", "reason"),
    [(("--since", "soon"), "--since soon"), (("--html", "/no/such/dir/r.html"), "no directory")],
)
def test_insights_refuses_bad_input_with_exit_2_before_reading(
    capsys, sandbox, environment, config, option, reason
):
    sandbox.reset_calls()
    ran = run_cli(capsys, "insights", "--config", str(config), "-e", "sim", *option)
    assert ran.code == 2
    assert reason in ran.err
    assert len(ran.err.strip().splitlines()) == 1
    assert not any(name.startswith("s3.") for name in sandbox.calls())


# --- reading only what the window needs ------------------------------------------------------

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
TD = "arn:aws:ecs:us-east-1:123456789012:task-definition/api:{}"


def daily_history(statuses: dict[int, str], rollbacks: dict[int, int], days: int = 100):
    """One deploy a day for `days` days up to NOW (day 0 the oldest); `statuses` overrides a
    day's status, `rollbacks` makes a day a manual rollback to another day's deploy."""
    from shipline.release.records import ReleaseRecord, ServiceRecord, new_release_id

    made: list[ReleaseRecord] = []
    for day in range(days):
        started = NOW - timedelta(days=days - day)
        rollback = rollbacks.get(day)
        record = ReleaseRecord(
            release_id=new_release_id(started),
            environment="sim",
            kind="rollback" if rollback is not None else "deploy",
            started_at=utc_timestamp(started),
            rolled_back_to=made[rollback].release_id if rollback is not None else None,
            services={"api": ServiceRecord("app-api", TD.format(day + 1), TD.format(day + 1), 1)},
        )
        status = statuses.get(day, "succeeded")
        record.finish(
            status,
            None if status == "succeeded" else "unhealthy",  # type: ignore[arg-type]
            now=started + timedelta(minutes=5),
        )
        made.append(record)
    return made


@pytest.mark.parametrize(
    ("statuses", "rollbacks"),
    [
        # An incident begun on day 60, long before the window (day 75 on): stopped releases
        # only until a failure inside the window, which belongs to that incident.
        ({60: "failed", **{day: "interrupted" for day in range(61, 76)}, 76: "rolled_back"}, {}),
        # A rollback in the window back to day 20: it abandons every deploy since.
        ({}, {90: 20}),
        # Only failures in the window, and the history before it all failures too.
        ({day: "failed" for day in range(40, 100)}, {}),
        # Nothing but failures.
        ({day: "failed" for day in range(100)}, {}),
    ],
    ids=["incident-begun-before", "rollback-far-back", "failing-since-long", "only-failures"],
)
def test_the_window_reads_fewer_records_and_gives_the_figures_of_the_whole_history(
    sandbox, environment, tmp_path, statuses, rollbacks
):
    from shipline.config import load_environment
    from shipline.insights import figures as insights
    from shipline.release.store import History

    config = write_config(tmp_path, environment)
    history = History(load_environment(str(config), "sim"))
    made = daily_history(statuses, rollbacks)
    for record in made:
        history.create(record)
    since = NOW - timedelta(days=25)

    read = insights.read_history(history, since)

    whole = insights.compute("sim", made, since, NOW).to_json()
    assert insights.compute("sim", read.records, since, NOW).to_json() == whole
    assert read.listed == 100
    if statuses.get(0) != "failed":  # a history of failures only is read back to its start
        assert len(read.records) < 100
