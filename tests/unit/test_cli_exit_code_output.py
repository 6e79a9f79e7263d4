"""Inside GitHub Actions every command publishes its exit code as the step output `exit-code`:
the composite actions `exec` shipline (so a cancel reaches it), leaving no shell to write it."""

from __future__ import annotations

import pytest

from shipline.cli import main


@pytest.fixture
def github_output(tmp_path, monkeypatch):
    target = tmp_path / "output"
    target.touch()
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_OUTPUT", str(target))
    return target


def exit_code_output(target) -> str:
    from support.actions.runner import parse_command_file

    return parse_command_file(target.read_text())["exit-code"]


def test_a_refusal_publishes_exit_code_2(github_output, tmp_path, capsys):
    assert main(["config", "check", "--config", str(tmp_path / "missing.yml")]) == 2
    assert exit_code_output(github_output) == "2"


def test_a_usage_error_from_the_parser_publishes_exit_code_2(github_output, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["deploy", "--no-such-option"])
    assert exited.value.code == 2
    assert exit_code_output(github_output) == "2"


def test_outside_actions_nothing_is_written(tmp_path, monkeypatch, capsys):
    target = tmp_path / "output"
    target.touch()
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    monkeypatch.setenv("GITHUB_OUTPUT", str(target))
    main(["config", "check", "--config", str(tmp_path / "missing.yml")])
    assert target.read_text() == ""
