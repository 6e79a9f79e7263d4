"""Foreign text in the job log and the step summary: read by the runner's rules (see
tests/support/workflow_commands.py) and rendered by GitHub's own Markdown parser, cmark-gfm
(issue 12, finding 3)."""

from __future__ import annotations

import json
import re

import cmarkgfm
import pytest
from cmarkgfm.cmark import Options

from shipline import console, github
from support.workflow_commands import processed_commands

HOSTILE = [
    "plain line",
    "::error title=PWNED::fake failure",
    "text\n::add-mask::3\n::stop-commands::PWNED\n::error::PWNED after stop",
    "prefix ##[add-mask]PWNED inside a line",
    "cr\r::set-output name=PWNED::x",
    "  ::warning::PWNED after blanks",
    "##[group]PWNED",
]


def render(markdown: str) -> str:
    """HTML as GitHub renders a step summary: cmark-gfm with its GFM extensions (tables,
    autolinks, tag filter), raw HTML allowed."""
    return cmarkgfm.github_flavored_markdown_to_html(markdown, options=Options.CMARK_OPT_UNSAFE)


@pytest.fixture
def actions(monkeypatch):
    monkeypatch.setenv("GITHUB_ACTIONS", "true")


@pytest.mark.parametrize("text", HOSTILE)
def test_a_progress_line_with_foreign_text_carries_no_command(actions, capsys, text):
    console.info(f"api (svc): event: {text}")
    github.error("after the foreign text", title="shipline test")
    log = capsys.readouterr().err
    acted, paused = processed_commands(log)
    foreign = [c for c in acted if "PWNED" in c.line or c.name in ("add-mask", "set-output")]
    assert foreign == [], log
    assert not paused
    # The runner still obeys shipline's own command after it.
    assert [c.name for c in acted if c.name == "error"] == ["error"]
    # Every line of the foreign text is still in the log, lines after the first indented.
    for line in re.split(r"\r\n|\n|\r", text)[1:]:
        assert f"  | {line}" in log


def test_the_fence_token_is_random_and_not_in_the_text(actions):
    first, second = (github.command_proof("::x::") for _ in range(2))
    token = first.splitlines()[0].removeprefix("::stop-commands::")
    assert re.fullmatch(r"[0-9a-f]{32}", token)
    assert first != second
    assert first.splitlines()[-1] == f"::{token}::"


def test_text_without_a_command_shape_and_text_outside_actions_are_left_alone(monkeypatch):
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    assert github.command_proof("rollout: 2/2 running") == "rollout: 2/2 running"
    monkeypatch.delenv("GITHUB_ACTIONS")
    assert github.command_proof("::error::x") == "::error::x"


def test_json_on_stdout_carries_no_legacy_command(actions, capsys):
    value = {"log_tail": ["##[add-mask]PWNED", "::error::PWNED"]}
    console.emit_json(value)
    out = capsys.readouterr().out
    assert json.loads(out) == value
    acted, _ = processed_commands(out)
    assert acted == []


CRAFTED = "ok\n```\n# PWNED heading\n[PWNED link](https://evil.example/x)\n<h2>PWNED</h2>\n````"


def test_a_code_block_cannot_be_closed_by_the_text_in_it():
    html = render("before\n\n" + github.markdown_code_block(CRAFTED) + "\nafter\n")
    assert "<h1" not in html and "<h2" not in html and "<a " not in html
    assert html.count("<pre>") == 1 and "PWNED heading" in html
    assert "<p>after</p>" in html


@pytest.mark.parametrize(
    "text",
    [
        CRAFTED,
        "see https://evil.example/PWNED or www.evil.example or pwned@evil.example",
        "`` ticks ` and | pipes <b>bold</b> **strong** _em_",
        " leading and trailing ",
    ],
)
def test_inline_foreign_text_renders_as_its_literal_text_in_a_sentence_and_a_cell(text):
    sentence = render(f"Why: {github.markdown_inline(text)}\n")
    table = render(
        github.markdown_table(["service", "result"], [["api", github.markdown_inline(text)]])
    )
    for html in (sentence, table):
        assert not re.search(r"<(h[1-6]|a|b|strong|em)\b", html), html
    # The cell stays one cell: pipes in the text do not split it.
    assert table.count("<td>") == 2
    flat = " ".join(text.splitlines()).strip()
    assert flat.replace("<", "&lt;").replace(">", "&gt;") in sentence.replace("&quot;", '"')
