"""GitHub Actions I/O against the runner's files (tmp files) and its workflow-command syntax."""

from __future__ import annotations

import io
import re

import pytest

from shipline import github


@pytest.fixture
def actions(tmp_path, monkeypatch):
    """A job step as the runner sets it up: the flag and the two files."""
    output = tmp_path / "output"
    summary = tmp_path / "summary"
    output.touch()
    summary.touch()
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    return output, summary


def parse_output_file(text: str) -> dict[str, str]:
    """Read $GITHUB_OUTPUT the way the runner does (heredoc form only)."""
    values: dict[str, str] = {}
    lines = text.split("\n")
    index = 0
    while index < len(lines):
        line = lines[index]
        if not line:
            index += 1
            continue
        name, delimiter = line.split("<<", 1)
        end = lines.index(delimiter, index + 1)
        values[name] = "\n".join(lines[index + 1 : end])
        index = end + 1
    return values


def test_outputs_are_written_in_heredoc_form_and_survive_newlines(actions):
    output, _ = actions
    github.set_outputs(
        {
            "release_id": "20261126T071500Z-1a2b3c",
            "status": "succeeded",
            "notes": "line one\nline two\nname=value",
            "rolled_back": False,
            "error": None,
        }
    )
    text = output.read_text()
    assert re.search(r"^release_id<<ghadelimiter_[0-9a-f-]{36}$", text, re.MULTILINE)
    assert parse_output_file(text) == {
        "release_id": "20261126T071500Z-1a2b3c",
        "status": "succeeded",
        "notes": "line one\nline two\nname=value",
        "rolled_back": "false",
        "error": "",
    }


def test_outputs_append_to_what_other_steps_wrote(actions):
    output, _ = actions
    output.write_text("earlier<<EOF\nkept\nEOF\n")
    github.set_outputs({"api_task_definition": "arn:aws:ecs:us-east-1:1:task-definition/api:7"})
    assert parse_output_file(output.read_text()) == {
        "earlier": "kept",
        "api_task_definition": "arn:aws:ecs:us-east-1:1:task-definition/api:7",
    }


def test_output_block_refuses_a_value_containing_its_delimiter_and_a_bad_name():
    with pytest.raises(ValueError, match="delimiter"):
        github.output_block("x", "a\nEND\nb", delimiter="END")
    with pytest.raises(ValueError, match="output name"):
        github.output_block("bad name", "v")


def test_nothing_is_written_outside_actions(tmp_path, monkeypatch):
    output = tmp_path / "output"
    summary = tmp_path / "summary"
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    stream = io.StringIO()
    github.set_outputs({"status": "succeeded"})
    github.append_summary("# release")
    github.error("boom", stream=stream)
    github.mask("hunter2", stream=stream)
    with github.group("rollout", stream=stream):
        pass
    assert not output.exists()
    assert not summary.exists()
    assert stream.getvalue() == ""


def test_summary_appends_markdown_with_a_final_newline(actions):
    _, summary = actions
    summary.write_text("# before\n")
    github.append_summary("## Release 1")
    github.append_summary(github.markdown_table(["service", "result"], [["api", "ok | fine"]]))
    assert summary.read_text() == (
        "# before\n## Release 1\n| service | result |\n| --- | --- |\n| api | ok \\| fine |\n"
    )


def test_summary_is_cut_at_githubs_limit(actions, monkeypatch):
    _, summary = actions
    monkeypatch.setattr(github, "SUMMARY_LIMIT", 200)
    github.append_summary("x" * 500)
    text = summary.read_text()
    assert len(text.encode()) <= 200
    assert text.endswith("_(summary cut: GitHub keeps at most 1 MiB)_\n")


def test_annotations_groups_and_masks_use_escaped_workflow_commands(actions):
    stream = io.StringIO()
    github.error("migration failed: 50%\nsee log", title="deploy: api", stream=stream)
    github.warning("slow", stream=stream)
    with github.group("Roll out", stream=stream):
        stream.write("inside\n")
    github.mask("line-one\nline-two", stream=stream)
    github.mask("", stream=stream)
    assert stream.getvalue().splitlines() == [
        "::error title=deploy%3A api::migration failed: 50%25%0Asee log",
        "::warning::slow",
        "::group::Roll out",
        "inside",
        "::endgroup::",
        "::add-mask::line-one",
        "::add-mask::line-two",
    ]


def test_group_is_closed_when_the_phase_raises(actions):
    stream = io.StringIO()
    with pytest.raises(RuntimeError), github.group("Verify", stream=stream):
        raise RuntimeError("boom")
    assert stream.getvalue().splitlines() == ["::group::Verify", "::endgroup::"]


def test_mask_environment_masks_only_secret_like_values(actions, capsys):
    masked = github.mask_environment(
        {"SESSION_SECRET": "abc123", "ENVIRONMENT": "production", "DSN": "https://k@sentry.io/1"}
    )
    assert masked == ["SESSION_SECRET", "DSN"]
    assert capsys.readouterr().err.splitlines() == [
        "::add-mask::abc123",
        "::add-mask::https://k@sentry.io/1",
    ]


def test_run_context_from_the_actions_environment():
    context = github.run_context(
        {
            "GITHUB_ACTOR": "octocat",
            "GITHUB_SHA": "0123abc",
            "GITHUB_SERVER_URL": "https://github.com",
            "GITHUB_REPOSITORY": "acme/app",
            "GITHUB_RUN_ID": "42",
            "GITHUB_RUN_ATTEMPT": "2",
        }
    )
    assert context.actor == "octocat"
    assert context.git_sha == "0123abc"
    assert context.run_url == "https://github.com/acme/app/actions/runs/42/attempts/2"
    assert context.holder.startswith("octocat@")


def test_run_context_outside_actions_has_no_run_url():
    context = github.run_context({})
    assert context.run_url is None
    assert context.git_sha is None
