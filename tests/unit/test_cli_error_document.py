"""With `--json` every command that ends in an error prints one error document on stdout, the
same shape for all (`cli.main` is the one place that renders it), and one line on stderr."""

from __future__ import annotations

import json

import pytest

from shipline.cli import main
from support.configs import ONE_SERVICE

# Every command whose refusal comes from its input: `{config}` is a valid shipline.yml without
# the environment `nope`, `{missing}` a path where none exists.
REFUSALS = {
    "deploy: unknown environment": ["deploy", "-e", "nope", "--config", "{config}"],
    "deploy: missing config": ["deploy", "-e", "staging", "--config", "{missing}"],
    "rollback: unknown environment": ["rollback", "-e", "nope", "--config", "{config}"],
    "history: unknown environment": ["history", "-e", "nope", "--config", "{config}"],
    "history: missing config": ["history", "-e", "staging", "--config", "{missing}"],
    "lock status: unknown environment": ["lock", "status", "-e", "nope", "--config", "{config}"],
    "lock status: missing config": ["lock", "status", "-e", "staging", "--config", "{missing}"],
    "lock release: unknown environment": ["lock", "release", "-e", "nope", "--config", "{config}"],
    "verify: unknown environment": ["verify", "-e", "nope", "--config", "{config}"],
    "verify: missing config": ["verify", "-e", "staging", "--config", "{missing}"],
    "migrate: unknown environment": [
        *("migrate", "-e", "nope", "--image", "api=repo:v1", "--config", "{config}"),
    ],
    "images running: unknown environment": [
        *("images", "running", "-e", "nope", "--config", "{config}"),
    ],
    "env from-terraform: missing outputs": ["env", "from-terraform", "--outputs", "{missing}"],
    "terraform plan: missing directory": ["terraform", "plan", "--dir", "{missing}"],
    # sim prints plain text only: --json is refused before anything is served or seeded
    # (port 9 answers nothing, so accepting --json would end in a failure, not a refusal).
    "sim seed --json": ["sim", "seed", "--endpoint", "http://127.0.0.1:9", "--wait", "0"],
}


@pytest.fixture
def no_actions(monkeypatch):
    for name in ("GITHUB_ACTIONS", "GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY", "SHIPLINE_CONFIG"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("argv", REFUSALS.values(), ids=REFUSALS.keys())
def test_a_refusal_with_json_prints_one_error_document(argv, tmp_path, capsys, no_actions):
    config = tmp_path / "shipline.yml"
    config.write_text(ONE_SERVICE)
    paths = {"{config}": str(config), "{missing}": str(tmp_path / "missing")}
    code = main([paths.get(word, word) for word in argv] + ["--json"])

    out, err = capsys.readouterr()
    assert code == 2
    document = json.loads(out)  # exactly one document: a second one would not parse
    assert document["status"] == "refused"
    assert document["exit_code"] == 2
    message = document["error"]
    assert message and "\n" not in message
    assert err.splitlines() == [f"shipline: error: {message}"]


@pytest.mark.parametrize(
    "argv",
    [["deploy", "-e", "staging", "--no-such-option"], ["lock", "status"], ["history"]],
    ids=["unknown option", "lock status without -e", "history without -e"],
)
def test_a_usage_error_with_json_prints_one_error_document(argv, capsys, no_actions):
    with pytest.raises(SystemExit) as exited:
        main([*argv, "--json"])

    out, err = capsys.readouterr()
    assert exited.value.code == 2
    document = json.loads(out)
    assert document["status"] == "refused"
    assert document["exit_code"] == 2
    [line] = err.splitlines()
    assert line.endswith(f": error: {document['error']}")


def test_an_unexpected_error_with_json_prints_one_failed_document(
    tmp_path, capsys, no_actions, monkeypatch
):
    from shipline.commands import history

    def broken(args):
        raise RuntimeError("boom")

    monkeypatch.setattr(history, "run", broken)
    code = main(["history", "-e", "staging", "--json"])

    out, err = capsys.readouterr()
    assert code == 1
    assert json.loads(out) == {
        "status": "failed",
        "exit_code": 1,
        "error": "unexpected RuntimeError: boom (run with --debug for the traceback)",
    }
    assert len(err.splitlines()) == 1


def test_a_command_that_printed_its_result_gets_no_second_document(
    tmp_path, capsys, no_actions, monkeypatch
):
    """`terraform plan --json` prints the refused plan, then refuses: that stays the document."""
    from shipline import console
    from shipline.commands import history
    from shipline.errors import UsageError

    def report_then_refuse(args):
        console.emit_json({"refused": True})
        raise UsageError("the plan deletes something")

    monkeypatch.setattr(history, "run", report_then_refuse)
    code = main(["history", "-e", "staging", "--json"])

    out, _ = capsys.readouterr()
    assert code == 2
    assert json.loads(out) == {"refused": True}


def test_without_json_stdout_stays_empty(tmp_path, capsys, no_actions):
    code = main(["history", "-e", "staging", "--config", str(tmp_path / "missing")])

    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert len(err.splitlines()) == 1
