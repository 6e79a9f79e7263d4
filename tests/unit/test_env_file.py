"""dotenv parsing: what is accepted, and every malformed file named by its line."""

from __future__ import annotations

import pytest

from shipline.env.dotenv import parse_env_text, read_env_file
from shipline.errors import UsageError


def parse(text: str) -> dict[str, str]:
    return {entry.key: entry.value for entry in parse_env_text(text, "test.env")}


def test_plain_lines_comments_export_and_quotes():
    text = (
        "\ufeff# a comment\n"
        "\n"
        "A=1\n"
        "export B = two words  # trailing comment\n"
        "C='literal $HOME \\n'\n"
        'D="tab\\tquote\\" backslash\\\\"\n'
        "E=\n"
        "F=a#b\n"
        'G="first\n'
        'second" # ok\n'
    )
    assert parse(text) == {
        "A": "1",
        "B": "two words",
        "C": "literal $HOME \\n",
        "D": 'tab\tquote" backslash\\',
        "E": "",
        "F": "a#b",
        "G": "first\nsecond",
    }


def test_line_numbers_are_kept():
    entries = parse_env_text("# x\n\nA=1\nB='x\ny'\nC=3\n")
    assert [(entry.key, entry.line) for entry in entries] == [("A", 3), ("B", 4), ("C", 6)]


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("A=1\nthis is not an assignment\n", 2, "expected KEY=VALUE"),
        ("A=1\n1A=2\n", 2, "invalid variable name"),
        ("A=1\nMY-VAR=2\n", 2, "invalid variable name"),
        ("A=1\nB=2\nA=3\n", 3, "duplicate key A (first set on line 1)"),
        ("A=1\nB='never closed\nC=3\n", 2, "never closed"),
        ('A="x" y\n', 1, "after the closing quote"),
    ],
)
def test_malformed_lines_name_the_line(text, line, reason):
    with pytest.raises(UsageError) as raised:
        parse_env_text(text, "prod.env")
    assert raised.value.message.startswith(f"prod.env:{line}: ")
    assert reason in raised.value.message


def test_a_bad_line_is_never_echoed():
    with pytest.raises(UsageError) as raised:
        parse_env_text("postgres://u:hunter2@db/app\n", "x.env")
    assert "hunter2" not in raised.value.message


def test_unreadable_files(tmp_path):
    with pytest.raises(UsageError, match="env file not found"):
        read_env_file(tmp_path / "missing.env")
    with pytest.raises(UsageError, match="is a directory"):
        read_env_file(tmp_path)
    binary = tmp_path / "binary.env"
    binary.write_bytes(b"A=1\nB=\xff\xfe\n")
    with pytest.raises(UsageError, match=r"binary.env:2: not UTF-8"):
        read_env_file(binary)


def test_read_env_file(tmp_path):
    path = tmp_path / "app.env"
    path.write_text("A=1\nB=2\n", encoding="utf-8")
    assert read_env_file(path) == {"A": "1", "B": "2"}
