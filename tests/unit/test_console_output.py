"""How progress is printed (console.py): the level of each line, phases, --quiet and
--verbose, GitHub Actions groups, colour only where it is wanted, digests shortened."""

from __future__ import annotations

import io
import re

import pytest

from shipline import console
from shipline.console import Level
from support.workflow_commands import processed_commands

DIGEST = "sha256:" + "9786f51e686bf28832f4d3374657eef77d510d9c8f490e33cbc9ad87a9fb3c95"


@pytest.fixture(autouse=True)
def plain(monkeypatch):
    """No Actions, default verbosity, stderr not a terminal; the next test starts afresh."""
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    console.configure()
    yield
    console.configure()


@pytest.mark.parametrize(
    ("line", "level"),
    [
        ("shipline: error: environment sim is locked by release X", Level.END),
        ("the lock could not be released: boom (see `shipline lock status`)", Level.END),
        ("waiting for 3 service(s): 120s of 900s; api 1/2 running", Level.STEP),
        ("web (agent-saas-sim-web): failed: rollout FAILED (2 failed tasks): ...", Level.STEP),
        ("web: UNHEALTHY after 20 attempts: HTTP 503 (http://x/health)", Level.STEP),
        ("migration FAILED: exit code 1; Essential container in task exited", Level.STEP),
        ("api: left alone (no image or task definition given)", Level.STEP),
        ("preflight: image-digests skipped on purpose (--skip-preflight)", Level.STEP),
        ("a message no rule knows", Level.STEP),
        (f"image api: r.example/api:v2@{DIGEST}", Level.DETAIL),
        (f"api: api:1 -> api:(new revision) (r.example/api:v2@{DIGEST})", Level.DETAIL),
        ("release 20261201T173202Z-b171b8: locked sim, record s3://b/k.json", Level.DETAIL),
        ("api: registered agent-saas-sim-api:2", Level.DETAIL),
        ("migration task 4ce9bfdf started: starter-console release db", Level.DETAIL),
        ("migration task: RUNNING", Level.DETAIL),
        ("updated 3 service(s); waiting for them together", Level.DETAIL),
        ("api (agent-saas-sim-api): waiting: IN_PROGRESS, 2/2 running", Level.DETAIL),
        ("api (agent-saas-sim-api): succeeded: COMPLETED, 2/2 running", Level.DETAIL),
        ("api: healthy (http://x/health answered 200 x2)", Level.DETAIL),
    ],
)
def test_each_line_has_one_level(line, level):
    assert console.level_of(line) == level


def run_phase(inner: list[str]) -> None:
    with console.phase("roll out"):
        for line in inner:
            console.info(line)
    console.end("deploy X succeeded in 1.0s")


def test_a_quiet_phase_is_one_line_with_its_duration(capsys):
    run_phase(["updated 3 service(s); waiting for them together"])

    lines = capsys.readouterr().err.splitlines()
    assert re.fullmatch(r"  roll out \.{3,} \d+\.\ds", lines[0]), lines
    assert lines[1:] == ["deploy X succeeded in 1.0s"]


def test_what_matters_inside_a_phase_goes_under_its_name_heartbeats_too(capsys):
    run_phase(
        [
            "waiting for 3 service(s): 30s of 900s",
            "api (svc): event: (service svc) has started 2 tasks",
            "web: ECS: deployment failed: tasks failed to start.",
        ]
    )

    lines = capsys.readouterr().err.splitlines()
    assert lines[:3] == [
        "  roll out ...",
        "    waiting for 3 service(s): 30s of 900s",
        "    web: ECS: deployment failed: tasks failed to start.",
    ]
    assert re.fullmatch(r"  roll out \.{3,} \d+\.\ds", lines[3]), lines


def test_quiet_prints_only_a_releases_end_and_errors(capsys):
    console.configure(quiet=True)
    console.release_output()
    console.info("demo: ---- 1. a first deploy")
    run_phase(["waiting for 3 service(s)", "web: ECS: deployment failed"])
    console.info("shipline: error: it broke")

    assert capsys.readouterr().err.splitlines() == [
        "deploy X succeeded in 1.0s",
        "shipline: error: it broke",
    ]


def test_quiet_keeps_the_answer_of_a_command_that_is_not_a_release(capsys):
    console.configure(quiet=True)
    console.info("shipline.yml: valid (2 environments)")
    console.info("updated 3 service(s); waiting for them together")  # a detail

    assert capsys.readouterr().err.splitlines() == ["shipline.yml: valid (2 environments)"]


def test_verbose_prints_every_line_with_the_phase_start(capsys):
    console.configure(verbose=True)
    run_phase(["updated 3 service(s); waiting for them together"])

    lines = capsys.readouterr().err.splitlines()
    assert lines[:2] == ["== roll out", "    updated 3 service(s); waiting for them together"]
    assert re.fullmatch(r"  roll out \.{3,} \d+\.\ds", lines[2])


def test_a_phase_left_by_an_exception_is_marked_failed(capsys):
    with pytest.raises(RuntimeError), console.phase("preflight"):
        raise RuntimeError("refused")

    assert re.fullmatch(r"  preflight \.{3,} \d+\.\ds FAILED", capsys.readouterr().err.rstrip("\n"))


def test_in_github_actions_each_phase_is_a_folded_group_with_every_detail(capsys, monkeypatch):
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    console.configure()
    run_phase(["updated 3 service(s); waiting for them together"])

    log = capsys.readouterr().err
    lines = log.splitlines()
    assert lines[:3] == [
        "::group::roll out",
        "updated 3 service(s); waiting for them together",  # a detail, folded away
        "::endgroup::",
    ]
    assert re.fullmatch(r"  roll out \.{3,} \d+\.\ds", lines[3])
    acted, _ = processed_commands(log)
    assert [command.name for command in acted] == ["group", "endgroup"]


def test_digests_in_a_release_are_shortened_to_12_hex_digits(capsys):
    console.configure(verbose=True)
    with console.phase("preflight"):
        console.info(f"image api: r.example/api:v2@{DIGEST}")
    console.info(f"api: r.example/api:v2 -> r.example/api@{DIGEST}")  # not a release's phase

    err = capsys.readouterr().err
    assert "    image api: r.example/api:v2@sha256:9786f51e686b\n" in err
    assert f"r.example/api@{DIGEST}\n" in err  # `images resolve`: the digest is the result
    assert console.short_digests(f"x@{DIGEST} y") == "x@sha256:9786f51e686b y"


class Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


@pytest.mark.parametrize(
    ("tty", "environ", "wanted"),
    [
        (True, {"TERM": "xterm-256color"}, True),
        (True, {}, True),
        (False, {"TERM": "xterm-256color"}, False),  # a pipe, a file, a GitHub Actions log
        (True, {"TERM": "xterm", "NO_COLOR": "1"}, False),  # no-color.org: any value ...
        (True, {"TERM": "xterm", "NO_COLOR": "0"}, False),
        (True, {"TERM": "xterm", "NO_COLOR": ""}, True),  # ... but not an empty one
        (True, {"TERM": "dumb"}, False),
        (True, {"TERM": "xterm", "GITHUB_ACTIONS": "true"}, True),  # a tty is a tty
    ],
)
def test_colour_only_on_a_terminal_that_wants_it(tty, environ, wanted):
    assert console.wants_colour(Stream(tty), environ) is wanted


def test_seconds_read_at_a_glance():
    assert [console.seconds_text(s) for s in (0.04, 12.34, 59.96, 125)] == [
        "0.0s",
        "12.3s",
        "1m00s",
        "2m05s",
    ]
