"""Crafted task logs and stop reasons, run through `shipline migrate` and `shipline deploy` in
GitHub Actions: the job log is read as the runner reads it (tests/support/workflow_commands.py) and
the step summary rendered by cmark-gfm, GitHub's parser (issue 12, finding 3)."""

from __future__ import annotations

import re

import cmarkgfm
from cmarkgfm.cmark import Options

from support.deploy_support import run_cli, write_config
from support.sim_sandbox import register_revision
from support.workflow_commands import processed_commands

# Each crafted line would be a command or Markdown of its own; every one is marked PWNED.
CRAFTED_LOGS = [
    "migrating...",
    "boom\n::error title=PWNED::fake failure\n::add-mask::3\n::stop-commands::PWNED",
    "::set-output name=PWNED::x",
    "a line with ##[add-mask]PWNED inside",
    "ends the block\n```\n# PWNED heading\n[PWNED link](https://evil.example/x)",
    "https://evil.example/PWNED-autolink",
]
CRAFTED_REASON = "Essential container exited\n::error::PWNED reason\n# PWNED reason heading"


def in_actions(monkeypatch, tmp_path):
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path / "outputs"))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    return summary


def assert_no_foreign_command(stream: str, ours: str) -> None:
    """No command the runner acts on comes from the crafted text, and shipline's own
    annotation (title `ours`) still works after it."""
    acted, paused = processed_commands(stream)
    foreign = [
        c
        for c in acted
        if ("PWNED" in c.line and c.properties.get("title") != ours)
        or (c.name == "add-mask" and c.data == "3")  # the crafted mask (shipline masks others)
    ]
    assert foreign == [], "\n".join(c.line for c in foreign)
    assert not paused, "the log ends with commands stopped"
    assert any(c.name == "error" and c.properties.get("title") == ours for c in acted)


def assert_summary_renders_nothing_foreign(markdown: str) -> None:
    html = cmarkgfm.github_flavored_markdown_to_html(markdown, options=Options.CMARK_OPT_UNSAFE)
    rendered = re.findall(r"<(h[1-6]|a)\b[^>]*>(.*?)</\1>", html, flags=re.S)
    assert [text for _tag, text in rendered if "PWNED" in text or "evil" in text] == [], html
    assert not re.search(r"<a [^>]*evil", html), html
    assert "PWNED" in html, "the crafted text is shown, as text"


def test_crafted_migration_logs_run_by_migrate(capsys, sandbox, environment, tmp_path, monkeypatch):
    summary = in_actions(monkeypatch, tmp_path)
    ecs = sandbox.client("ecs")
    config = write_config(tmp_path, environment)
    given = register_revision(
        ecs, environment.task_definitions["api"], "api", environment.image("api", "v5")
    )
    sandbox.policy(
        {
            "tasks": {
                "*": {"run_seconds": 0.2},
                environment.families["api"]: {
                    "exit_code": 1,
                    "logs": CRAFTED_LOGS,
                    "reason": CRAFTED_REASON,
                },
            }
        }
    )
    ran = run_cli(
        capsys, "migrate", "--config", str(config), "-e", "sim", "--task-definition", given
    )
    assert ran.code == 1, ran.err
    assert_no_foreign_command(ran.err, ours="shipline migrate")
    assert "  | ::add-mask::3" in ran.err  # shown, indented, inside a fence
    assert_summary_renders_nothing_foreign(summary.read_text())

    as_json = run_cli(
        capsys,
        "migrate",
        "--config",
        str(config),
        "-e",
        "sim",
        "--task-definition",
        given,
        "--json",
    )
    assert as_json.json()["log_tail"][3] == "a line with ##[add-mask]PWNED inside"
    assert processed_commands(as_json.out)[0] == []


def test_crafted_migration_logs_run_by_deploy(capsys, sandbox, environment, tmp_path, monkeypatch):
    summary = in_actions(monkeypatch, tmp_path)
    config = write_config(tmp_path, environment)
    sandbox.policy(
        {
            "services": {"*": {"converge_seconds": 0.2}},
            "tasks": {
                "*": {
                    "exit_code": 3,
                    "run_seconds": 0.2,
                    "logs": CRAFTED_LOGS,
                    "reason": CRAFTED_REASON,
                }
            },
        }
    )
    images = [
        arg
        for key in ("api", "web")
        for arg in ("--image", f"{key}={environment.image(key, 'v2')}")
    ]
    ran = run_cli(capsys, "deploy", "--config", str(config), "-e", "sim", *images)
    assert ran.code == 1, ran.err
    assert_no_foreign_command(ran.err, ours="shipline deploy failed")
    text = summary.read_text()
    assert "# PWNED heading" in text
    assert_summary_renders_nothing_foreign(text)
