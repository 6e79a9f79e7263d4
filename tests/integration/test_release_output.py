"""What a person reads while a release runs (issue 15, item 4), driven as a person drives it:
one line per phase with its duration, the ECS events that matter, a closing table (service,
before -> after, result, time) and the release's total time; `--quiet` prints only the end,
`--verbose` every line; colour only on a terminal, and never with NO_COLOR."""

from __future__ import annotations

import re

import pytest

from support.deploy_support import DEPLOY_PHASES, run_cli, write_config
from support.terminal import on_terminal

# `  preflight ......................... 0.4s` (FAILED after the time when the phase failed)
PHASE = re.compile(
    r"^  (?P<title>[a-z][a-z ]*[a-z]) \.{3,} (\d+\.\d+s|\d+m\d\ds)(?P<failed> FAILED)?$"
)
TABLE_HEADER = re.compile(r"^  SERVICE +BEFORE -> AFTER +RESULT +TIME$")
LAST_LINE = re.compile(r"^deploy \S+ (?P<status>\w+) in \d+\.\d+s \(record s3://\S+\.json\)")


@pytest.fixture
def config(tmp_path, environment):
    return write_config(tmp_path, environment)


def deploy_args(config, environment, tag: str) -> list[str]:
    args = ["deploy", "--config", str(config), "-e", "sim"]
    return args + [f"--image={key}={environment.image(key, tag)}" for key in ("api", "web")]


def phases(lines: list[str]) -> list[tuple[str, bool]]:
    return [(m["title"], bool(m["failed"])) for line in lines if (m := PHASE.match(line))]


def closing(lines: list[str]) -> tuple[list[list[str]], str]:
    """The closing table's rows (cells split on runs of 2+ blanks) and the last line; they end
    the output."""
    start = next(i for i, line in enumerate(lines) if TABLE_HEADER.match(line))
    rows = [re.split(r" {2,}", line.strip()) for line in lines[start + 1 : -1]]
    return rows, lines[-1]


def assert_not_noisy(text: str) -> None:
    """None of the noise the issue names: raw events with task ids and target-group ARNs,
    whole 64-hex digests."""
    assert "event:" not in text and "(task " not in text and "targetgroup/" not in text, text
    assert not re.search(r"[0-9a-f]{64}", text), text


def test_a_deploy_on_a_terminal_reads_phase_by_phase_and_ends_with_its_table(
    sandbox, environment, config
):
    ran = on_terminal(*deploy_args(config, environment, "v2"))

    assert ran.code == 0, ran.screen
    screen = ran.screen
    assert phases(screen) == [(title, False) for title in DEPLOY_PHASES]
    rows, last = closing(screen)
    assert [row[0] for row in rows] == ["api", "web", "worker"]
    for row in rows:
        assert row[1].endswith(" -> :2") and row[2] == "deployed", row
        assert re.fullmatch(r"\d+\.\d+s", row[3]), row
    assert LAST_LINE.match(last) and LAST_LINE.match(last)["status"] == "succeeded", last
    # Phases, lines inside a phase (indented), the table: nothing else.
    for line in screen:
        assert PHASE.match(line) or line.startswith(("    ", "  ")) or line == last, line
    assert_not_noisy("\n".join(screen))
    # Colour on a terminal; nothing on stdout but results (a deploy without --json has none).
    assert b"\x1b[" in ran.raw
    assert ran.stdout == ""


def test_no_color_on_a_terminal_and_a_pipe_give_no_escape_codes(
    capsys, sandbox, environment, config
):
    ran = on_terminal(*deploy_args(config, environment, "v2"), environ={"NO_COLOR": "1"})

    assert ran.code == 0, ran.screen
    assert b"\x1b" not in ran.raw, ran.raw
    assert phases(ran.screen) == [(title, False) for title in DEPLOY_PHASES]

    piped = run_cli(capsys, *deploy_args(config, environment, "v3"))  # stderr is not a tty
    assert piped.code == 0, piped.err
    assert "\x1b" not in piped.err
    assert phases(piped.err.splitlines()) == [(title, False) for title in DEPLOY_PHASES]


def test_quiet_prints_only_the_end(capsys, sandbox, environment, config):
    ran = run_cli(capsys, *deploy_args(config, environment, "v2"), "--quiet")

    assert ran.code == 0, ran.err
    lines = ran.err.splitlines()
    assert TABLE_HEADER.match(lines[0]), lines
    assert [line.split()[0] for line in lines[1:4]] == ["api", "web", "worker"]
    assert LAST_LINE.match(lines[4]) and len(lines) == 5, lines
    assert ran.out == ""


def test_verbose_shows_the_raw_events_and_every_step(capsys, sandbox, environment, config):
    ran = run_cli(capsys, *deploy_args(config, environment, "v2"), "--verbose")

    assert ran.code == 0, ran.err
    # ECS's own words, whole: the tasks it started, the targets it registered.
    assert re.search(
        r"api \(agent-saas-sim-api\): event: "
        r"\(service agent-saas-sim-api\) has started 2 tasks: \(task ",
        ran.err,
    )
    assert "targetgroup/" in ran.err
    assert "== preflight" in ran.err and "== roll out" in ran.err
    assert ": locked sim, record s3://" in ran.err
    assert phases(ran.err.splitlines()) == [(title, False) for title in DEPLOY_PHASES]


def test_a_failed_rollout_shows_why_its_phase_failed_and_what_each_service_ended_as(
    capsys, sandbox, environment, config
):
    sandbox.policy({"services": {"*": {"converge_seconds": 0.2, "fail": "web:v5"}}})

    ran = run_cli(capsys, *deploy_args(config, environment, "v5"))

    assert ran.code == 1, ran.err
    lines = ran.err.splitlines()
    assert phases(lines)[-2:] == [("roll out", True), ("roll back", False)]
    # The circuit breaker's events, under the phase they happened in, without ECS's prefixes.
    header = lines.index("  roll out ...")
    ended = next(i for i, line in enumerate(lines) if PHASE.match(line) and "roll out" in line)
    inside = lines[header + 1 : ended]
    assert "    web: ECS: deployment failed: tasks failed to start." in inside, inside
    assert any(line.startswith("    web: ECS: rolling back to deployment ") for line in inside)
    rows, last = closing(lines)
    results = {row[0]: row[2] for row in rows}
    assert results.pop("web") == "rollout failed, rolled back", rows
    # The others moved too and went back with it (whether ECS had finished them first or not).
    assert set(results) == {"api", "worker"}
    assert all(result.endswith("rolled back") for result in results.values()), rows
    assert LAST_LINE.match(last)["status"] == "rolled_back"
    assert "circuit breaker" in last  # the reason stays on the last line
    assert_not_noisy(ran.err)


def test_a_manual_rollback_and_a_migration_end_the_same_way(capsys, sandbox, environment, config):
    for tag in ("v2", "v3"):
        assert run_cli(capsys, *deploy_args(config, environment, tag)).code == 0

    ran = on_terminal("rollback", "--config", str(config), "-e", "sim")

    assert ran.code == 0, ran.screen
    screen = ran.screen
    assert phases(screen) == [("preflight", False), ("roll back", False), ("verify", False)]
    start = next(i for i, line in enumerate(screen) if TABLE_HEADER.match(line))
    rows = [re.split(r" {2,}", line.strip()) for line in screen[start + 1 : start + 4]]
    assert [(row[0], row[1], row[2]) for row in rows] == [
        ("api", "agent-saas-sim-api:3 -> :2", "rolled back"),
        ("web", "agent-saas-sim-web:3 -> :2", "rolled back"),
        ("worker", "agent-saas-sim-billing-worker:3 -> :2", "rolled back"),
    ]
    assert screen[-2].startswith("record: s3://")
    assert re.fullmatch(r"rollback \S+ \(back to \S+\): succeeded in \d+\.\d+s", screen[-1])
    assert ran.stdout == ""

    migrated = run_cli(
        capsys,
        "migrate",
        "--config",
        str(config),
        "-e",
        "sim",
        "--image",
        f"api={environment.image('api', 'v2')}",
    )
    assert migrated.code == 0, migrated.err
    lines = migrated.err.splitlines()
    assert phases(lines) == [("migrate", False)]
    assert lines[-2].startswith("record: s3://")
    assert re.fullmatch(r"migration succeeded \(exit code 0\) in \d+\.\d+s", lines[-1])
    assert_not_noisy(migrated.err)
