"""How a release ends on the terminal: a table of its services (before -> after, the result in
a few words, how long each took to settle) and one last line with the release's status, total
time and reason (pure: rows and styles; console.py prints them).

The step summary (summary.py) keeps the same table in Markdown with the whole results.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from shipline.aws import short_name
from shipline.console import GREEN, RED, YELLOW, seconds_text

if TYPE_CHECKING:
    from shipline.release.deploy import DeployResult
    from shipline.release.rollback import RollbackResult

HEADER = ("SERVICE", "BEFORE -> AFTER", "RESULT", "TIME")

# The words a service's result starts with (deploy.py, ServiceRun.result), each up to its
# first colon: "unhealthy: not 2 2xx answers ...; rolled back" reads "unhealthy, rolled back".
RESULT_HEADS = (
    "deployed",
    "dry run",
    "not moved",
    "update failed",
    "rollout succeeded",
    "rollout failed",
    "rollout waiting",
    "unhealthy",
    "rolled back",
    "rollback failed",
    "rollback waiting",
    "left as it is",
)
_SAID_BETTER = {"rollout waiting": "rollout unfinished", "rollback waiting": "rollback unfinished"}


class Table:
    """Rows (the header first) and one style per cell of each row after the header."""

    def __init__(self) -> None:
        self.rows: list[list[str]] = [list(HEADER)]
        self.styles: list[list[str]] = []

    def add(
        self, service: str, moved: str, result: str, seconds: float | None, style: str = ""
    ) -> None:
        took = "-" if seconds is None else seconds_text(seconds)
        self.rows.append([service, moved, result, took])
        self.styles.append(["", "", style, ""])


def moved(before: str | None, after: str | None) -> str:
    """`family:1 -> :2` when the family stays the same, `a:1 -> b:7` otherwise; one name when
    nothing moved."""
    old, new = short_name(before, "-"), short_name(after, "-")
    if after is None or old == new:
        return old
    family, _, _ = old.rpartition(":")
    new_family, _, revision = new.rpartition(":")
    return f"{old} -> :{revision}" if family and family == new_family else f"{old} -> {new}"


def result_words(result: str) -> str:
    """A service's result in a few words (the last line and the summary give the reasons)."""
    words = []
    for part in result.split("; "):
        head = next((h for h in RESULT_HEADS if part.startswith(h)), None)
        if head is None:
            continue
        said = part.split(":", 1)[0] if part.startswith(head + ":") else part
        words.append(_SAID_BETTER.get(said, said))
    if len(words) > 1 and words[0] == "rollout succeeded":
        words = words[1:]  # it was rolled back with the others: that is what happened to it
    return ", ".join(words) or result[:40]


def result_style(words: str) -> str:
    """A deployed service green; one the deploy put back yellow; one left broken red."""
    if words in {"deployed", "dry run"}:
        return GREEN
    if words.endswith("rolled back"):
        return YELLOW
    return RED if any(bad in words for bad in ("failed", "unfinished", "unhealthy")) else ""


def deploy_table(result: DeployResult) -> Table:
    table = Table()
    for key, run in result.services.items():
        words = result_words(run.result)
        table.add(
            key,
            moved(run.previous_task_definition, run.new_task_definition),
            words,
            run.seconds,
            result_style(words),
        )
    running = result.final_task_definitions
    for key in result.left_alone:
        table.add(key, short_name(running.get(key), "-"), "left alone", None)
    return table


def deploy_last_line(result: DeployResult) -> str:
    """`deploy ID STATUS in 4.2s (record URI): REASON`."""
    took = f" in {seconds_text(result.seconds)}" if result.seconds is not None else ""
    where = f" (record {result.record_uri})" if result.record_uri else ""
    line = " ".join(part for part in ("deploy", result.release_id, result.status) if part)
    line += took + where
    return f"{line}: {result.error}" if result.error else line


def rollback_table(result: RollbackResult) -> Table:
    """Per service of the record: where it was -> where it is now, and what happened to it."""
    record = result.record
    table = Table()
    for key, entry in sorted(record.services.items()):
        outcome: str
        if key in result.moved:
            outcome = "rolled back" if record.status == "succeeded" else record.status
            if record.kind == "scale-to-zero" and record.status == "succeeded":
                outcome = "scaled to zero"
        elif key in result.already:
            outcome = "unchanged"
        else:
            outcome = "not moved"
        if record.kind == "scale-to-zero":
            tasks = entry.previous_desired_count
            shown = f"{short_name(entry.task_definition)}: {tasks} -> 0 tasks"
        else:
            shown = moved(entry.previous_task_definition, entry.task_definition)
        style = GREEN if outcome in {"unchanged", "rolled back", "scaled to zero"} else RED
        table.add(key, shown, outcome, result.seconds.get(key), style)
    return table


def succeeded_style(status: str) -> Sequence[str]:
    """The last line's colour: green when it succeeded, red otherwise."""
    return (GREEN,) if status in {"succeeded", "dry_run"} else (RED,)
