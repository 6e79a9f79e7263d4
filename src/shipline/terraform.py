"""Terraform: what a plan would do, whether applying it could lose data, and the CLI wrapper.

The plan analysis is pure: it reads the JSON of `terraform show -json PLANFILE` (Terraform's
documented plan representation: `resource_changes[].change.actions`, `applyable`) and decides.
The wrapper builds terraform command lines as data, and `run` is the only code here that starts
a process.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from shipline.errors import EXIT_REFUSED, ShiplineError, UsageError
from shipline.schemas import SCHEMA_DIR
from shipline.sensitive import MASK

DISPOSABLE_TABLE = SCHEMA_DIR / "terraform-disposable-resources.json"

# Actions Terraform lists for one resource instance, and what they amount to.
_ACTION_KINDS: dict[tuple[str, ...], str] = {
    ("no-op",): "no-op",
    ("read",): "read",
    ("create",): "create",
    ("update",): "update",
    ("delete",): "delete",
    ("delete", "create"): "replace",  # destroy first, then create
    ("create", "delete"): "replace",  # create_before_destroy
    ("forget",): "forget",  # removed from state, the object is kept
    ("create", "forget"): "replace-forget",  # a new object; the old one kept, unmanaged
}
_LOSES_OBJECT = {"delete", "replace"}


@cache
def disposable_types() -> Mapping[str, str]:
    """Resource type -> why deleting it loses nothing (schemas/terraform-disposable-resources.json).

    Every other type may hold data: deleting or replacing one needs --allow-destroy.
    """
    with DISPOSABLE_TABLE.open(encoding="utf-8") as handle:
        return dict(json.load(handle)["resource_types"])


# ---------------------------------------------------------------------------------------------
# Plan analysis (pure)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResourceChange:
    address: str
    type: str
    action: str  # create | update | delete | replace | replace-forget | forget
    stateful: bool  # may hold data: its type is not listed as disposable
    reason: str | None = None  # Terraform's action_reason, e.g. replace_because_cannot_update
    replace_paths: tuple[str, ...] = ()  # attributes forcing a replacement

    @property
    def loses_data(self) -> bool:
        return self.stateful and self.action in _LOSES_OBJECT


@dataclass(frozen=True)
class PlanAnalysis:
    changes: tuple[ResourceChange, ...]
    allowed: tuple[ResourceChange, ...]  # stateful deletes/replaces named by --allow-destroy
    blocked: tuple[ResourceChange, ...]  # stateful deletes/replaces nobody allowed
    unused_allows: tuple[str, ...] = field(default=())  # --allow-destroy naming no such change
    has_changes: bool = True  # applying it changes something (see `plan_has_changes`)

    @property
    def refused(self) -> bool:
        return bool(self.blocked)

    def count(self, action: str) -> int:
        return sum(1 for change in self.changes if change.action == action)

    @property
    def counts(self) -> dict[str, int]:
        return {
            "add": self.count("create"),
            "change": self.count("update"),
            "destroy": self.count("delete"),
            "replace": self.count("replace") + self.count("replace-forget"),
            "forget": self.count("forget"),
        }

    def headline(self) -> str:
        counts = self.counts
        text = (
            f"{counts['add']} to add, {counts['change']} to change, "
            f"{counts['destroy']} to destroy, {counts['replace']} to replace"
        )
        if counts["forget"]:
            text += f", {counts['forget']} to forget"
        return text

    def refusal(self) -> str:
        """One line: which stateful resources the plan would delete or replace."""
        listed = ", ".join(f"{change.address} ({change.action})" for change in self.blocked)
        return (
            f"refusing: the plan would delete or replace stateful resources: {listed}; "
            "nothing applied (to allow it, repeat with --allow-destroy ADDRESS for each)"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "has_changes": self.has_changes,
            "counts": self.counts,
            "refused": self.refused,
            "changes": [_change_dict(change) for change in self.changes],
            "blocked": [change.address for change in self.blocked],
            "allowed_destroys": [change.address for change in self.allowed],
            "unused_allow_destroy": list(self.unused_allows),
        }


def _change_dict(change: ResourceChange) -> dict[str, Any]:
    return {
        "address": change.address,
        "type": change.type,
        "action": change.action,
        "stateful": change.stateful,
        "reason": change.reason,
        "replace_paths": list(change.replace_paths),
    }


def parse_plan(text: str, source: str = "plan") -> dict[str, Any]:
    """`terraform show -json` text -> the plan document; UsageError when it is not one."""
    try:
        plan = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{source}: not JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(plan, dict) or "format_version" not in plan:
        raise UsageError(f"{source}: not a Terraform plan in JSON (no format_version)")
    major = str(plan["format_version"]).split(".", 1)[0]
    if major != "1":
        raise UsageError(
            f"{source}: plan format {plan['format_version']} is not supported (expected 1.x)"
        )
    if not isinstance(plan.get("resource_changes", []), list):
        raise UsageError(f"{source}: resource_changes is not a list")
    if plan.get("errored") is True:
        raise UsageError(
            f"{source}: the plan is incomplete: Terraform failed while planning; nothing applied"
        )
    return plan


def plan_has_changes(plan: Mapping[str, Any]) -> bool:
    """Whether applying `plan` changes anything (resources, root outputs or the state).

    Terraform's own verdict decides: `applyable` (plan JSON of Terraform 1.8+) is false exactly
    when `terraform plan -detailed-exitcode` exits 0. A normal plan is applyable when a resource
    has an action other than no-op, moves, is imported, or a root output changes (an apply is
    what writes new output values into the state); drift found by the refresh is not applied.
    A `-refresh-only` plan is applyable when the refresh changed the state. Read from the saved
    plan, the verdict holds for `--plan-file` too. A plan without `applyable` (older Terraform),
    or one that lists a change all the same, is applied: Terraform then decides.
    """
    if plan.get("applyable") is not False:
        return True
    for entry in plan.get("resource_changes", []):
        change = entry.get("change", {})
        if change.get("actions") != ["no-op"] or entry.get("previous_address"):
            return True
        if change.get("importing"):
            return True
    outputs = plan.get("output_changes") or {}
    if not isinstance(outputs, Mapping):
        return True
    return any(
        not isinstance(output, Mapping) or output.get("actions") != ["no-op"]
        for output in outputs.values()
    )


def action_kind(actions: Sequence[str]) -> str:
    """Terraform's action list for one instance -> one word; UsageError for an unknown list."""
    kind = _ACTION_KINDS.get(tuple(actions))
    if kind is None:
        raise UsageError(f"unknown Terraform change actions {list(actions)}")
    return kind


def _replace_paths(raw: Any) -> tuple[str, ...]:
    paths = []
    for path in raw or []:
        if isinstance(path, list):
            paths.append(".".join(str(step) for step in path))
    return tuple(paths)


def analyze_plan(
    plan: Mapping[str, Any],
    allow_destroy: Iterable[str] = (),
    disposable: Mapping[str, str] | None = None,
) -> PlanAnalysis:
    """Classify every managed resource change and decide what an apply must not do.

    A type not listed in `disposable` (default: the table in schemas/) may hold data, so
    deleting or replacing it is blocked unless --allow-destroy names the address.
    """
    table = disposable_types() if disposable is None else disposable
    allowed_addresses = list(dict.fromkeys(allow_destroy))
    changes = []
    for entry in plan.get("resource_changes", []):
        if entry.get("mode", "managed") != "managed":
            continue  # data sources are only read
        kind = action_kind(entry.get("change", {}).get("actions", []))
        if kind in {"no-op", "read"}:
            continue
        address = str(entry["address"])
        if entry.get("deposed"):
            address += f" (deposed {entry['deposed']})"
        changes.append(
            ResourceChange(
                address=address,
                type=str(entry.get("type", "")),
                action=kind,
                stateful=entry.get("type") not in table,
                reason=entry.get("action_reason"),
                replace_paths=_replace_paths(entry.get("change", {}).get("replace_paths")),
            )
        )
    losing = [change for change in changes if change.loses_data]
    allowed = tuple(c for c in losing if _base_address(c.address) in allowed_addresses)
    blocked = tuple(c for c in losing if _base_address(c.address) not in allowed_addresses)
    named = {_base_address(change.address) for change in losing}
    unused = tuple(address for address in allowed_addresses if address not in named)
    return PlanAnalysis(tuple(changes), allowed, blocked, unused, plan_has_changes(plan))


def _base_address(address: str) -> str:
    return address.split(" (deposed", 1)[0]


_SYMBOL = {
    "create": "+",
    "update": "~",
    "delete": "-",
    "replace": "-/+",
    "replace-forget": "./+",
    "forget": ".",
}


def summary_markdown(analysis: PlanAnalysis, title: str = "Terraform plan") -> str:
    """The step-summary report: counts, a table of changes, and the verdict."""
    lines = [f"### {title}", "", f"**{analysis.headline()}**", ""]
    if analysis.refused:
        lines += [
            "> [!CAUTION]",
            "> Refused: this plan deletes or replaces stateful resources. Nothing was applied.",
            "> To allow it, name each one with `--allow-destroy ADDRESS`.",
            "",
        ]
    if analysis.allowed:
        allowed = ", ".join(f"`{change.address}`" for change in analysis.allowed)
        lines += [f"Allowed to delete or replace (--allow-destroy): {allowed}", ""]
    if analysis.unused_allows:
        unused = ", ".join(f"`{address}`" for address in analysis.unused_allows)
        lines += [f"--allow-destroy named resources the plan does not remove: {unused}", ""]
    if analysis.changes:
        lines += ["| | resource | action | note |", "| --- | --- | --- | --- |"]
        for change in analysis.changes:
            note = []
            if change.loses_data:
                note.append("**stateful**" if change in analysis.blocked else "stateful, allowed")
            if change.replace_paths:
                note.append("forced by " + ", ".join(f"`{p}`" for p in change.replace_paths))
            symbol = _SYMBOL.get(change.action, "")
            lines.append(
                f"| `{symbol}` | `{change.address}` | {change.action} | {'; '.join(note)} |"
            )
    elif analysis.has_changes:
        lines.append(_NO_RESOURCE_CHANGES)
    else:
        lines.append("No changes.")
    return "\n".join(lines) + "\n"


# A plan Terraform calls applyable (or that does not say) with no resource action listed.
_NO_RESOURCE_CHANGES = (
    "No resource changes; applying it may still change outputs or the state "
    "(moved or imported resources, a refresh-only plan's drift)."
)


def summary_text(analysis: PlanAnalysis) -> list[str]:
    """The same report as plain lines for the log."""
    if not analysis.has_changes:
        return ["plan: no changes"]
    lines = [f"plan: {analysis.headline()}"]
    if not analysis.changes:
        lines.append(f"  {_NO_RESOURCE_CHANGES}")
    for change in analysis.changes:
        flag = ""
        if change.loses_data:
            flag = "  <-- STATEFUL" if change in analysis.blocked else "  (stateful, allowed)"
        lines.append(f"  {_SYMBOL.get(change.action, '?'):>3} {change.address}{flag}")
    return lines


# ---------------------------------------------------------------------------------------------
# The terraform CLI
# ---------------------------------------------------------------------------------------------


# How long plan and apply wait for Terraform's state lock before giving up: a lock left by a
# killed run is then reported, with the next step, instead of failing at once.
DEFAULT_LOCK_TIMEOUT = "5m"
_DURATION = re.compile(r"0|[0-9]+(?:ms|s|m|h)")


def check_lock_timeout(value: str) -> str:
    """A Terraform duration such as 90s, 5m or 1h; UsageError otherwise."""
    if not _DURATION.fullmatch(value):
        raise UsageError(f"--lock-timeout {value!r}: expected a duration such as 90s, 5m or 1h")
    return value


@dataclass(frozen=True)
class Invocation:
    """Where and how terraform runs. Paths are absolute: -chdir moves terraform's cwd."""

    executable: str
    directory: Path
    backend_configs: tuple[str, ...] = ()
    var_files: tuple[Path, ...] = ()
    variables: tuple[str, ...] = ()  # NAME=VALUE
    lock_timeout: str = DEFAULT_LOCK_TIMEOUT
    colour: bool = True  # False when its output is not read on a terminal: no escape codes

    def base(self) -> list[str]:
        return [self.executable, f"-chdir={self.directory}"]

    def no_colour(self) -> list[str]:
        return [] if self.colour else ["-no-color"]


def absolute_backend_config(value: str, cwd: Path) -> str:
    """A KEY=VALUE pair stays as it is; a file path is made absolute."""
    if "=" in value:
        return value
    return str((cwd / value).resolve())


def init_command(invocation: Invocation) -> list[str]:
    configs = [f"-backend-config={config}" for config in invocation.backend_configs]
    return [*invocation.base(), "init", "-input=false", *invocation.no_colour(), *configs]


def plan_command(invocation: Invocation, plan_file: Path) -> list[str]:
    var_files = [f"-var-file={path}" for path in invocation.var_files]
    variables = [f"-var={assignment}" for assignment in invocation.variables]
    return [
        *invocation.base(),
        "plan",
        "-input=false",
        *invocation.no_colour(),
        f"-lock-timeout={invocation.lock_timeout}",
        f"-out={plan_file}",
        *var_files,
        *variables,
    ]


def show_command(invocation: Invocation, plan_file: Path) -> list[str]:
    return [*invocation.base(), "show", "-json", str(plan_file)]


def apply_command(invocation: Invocation, plan_file: Path) -> list[str]:
    # A saved plan carries its variables and never prompts; -input=false guards the rest.
    return [
        *invocation.base(),
        "apply",
        "-input=false",
        *invocation.no_colour(),
        f"-lock-timeout={invocation.lock_timeout}",
        str(plan_file),
    ]


def output_command(invocation: Invocation) -> list[str]:
    return [*invocation.base(), "output", "-json"]


def output_secrets(outputs: Mapping[str, Any]) -> dict[str, list[str]]:
    """Output name -> the texts to hide, for every output NOT marked sensitive whose value
    is a secret by shipline's one rule (`shipline.sensitive`): a password in a URL, a token
    by its shape, a secret's name. An output the app's inventory maps to a variable is judged
    as that variable (`secrets_provider` is SECRETS_PROVIDER, a known non-secret); a map's
    values are judged by their keys."""
    from shipline.env.inventory import load_inventory
    from shipline.sensitive import secret_parts

    inventory = load_inventory()
    found: dict[str, list[str]] = {}
    for name, output in outputs.items():
        if not isinstance(output, Mapping) or output.get("sensitive"):
            continue
        variable = inventory.variable_for_output(name)
        texts = _named_strings(variable.name if variable else name, output.get("value"))
        parts = [part for key, text in texts for part in secret_parts(key, text, inventory)]
        if parts:
            found[name] = sorted(set(parts), key=len, reverse=True)
    return found


def _named_strings(name: str, value: Any) -> list[tuple[str, str]]:
    if isinstance(value, Mapping):
        return [pair for key, inner in value.items() for pair in _named_strings(str(key), inner)]
    if isinstance(value, list):
        return [pair for inner in value for pair in _named_strings(name, inner)]
    return [(name, str(value))] if value not in (None, "") else []


def printable(command: Sequence[str]) -> str:
    """The command for the log, with every -var value hidden (it may be a secret)."""
    shown = []
    for part in command:
        if part.startswith("-var="):
            name = part[len("-var=") :].split("=", 1)[0]
            part = f"-var={name}={MASK}"
        shown.append(part)
    return " ".join(shown)


def _log_stream() -> Any:
    """Our stderr when it is a real file (it is, from a shell); else inherit the parent's."""
    try:
        sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        return None
    return sys.stderr


class TerraformFailed(ShiplineError):
    """terraform exited non-zero."""

    def __init__(self, step: str, returncode: int, message: str | None = None) -> None:
        self.step = step
        self.returncode = returncode
        super().__init__(
            message or f"terraform {step} failed (exit {returncode}); its output is above"
        )


class TerraformInterrupted(TerraformFailed):
    """shipline was asked to stop while terraform ran; terraform was told and waited for."""

    def __init__(self, step: str, returncode: int, signal_name: str) -> None:
        self.signal_name = signal_name
        super().__init__(
            step,
            returncode,
            f"terraform {step} was interrupted ({signal_name}): terraform was asked to stop "
            f"and exited {returncode}; its output above says whether it stopped cleanly "
            "and released its state lock",
        )


class StateLocked(TerraformFailed):
    """terraform could not take its state lock within -lock-timeout."""

    exit_code = EXIT_REFUSED

    def __init__(
        self, step: str, returncode: int, lock_id: str | None, invocation: Invocation
    ) -> None:
        self.lock_id = lock_id
        unlock = f"terraform -chdir={invocation.directory} force-unlock {lock_id or 'LOCK_ID'}"
        super().__init__(
            step,
            returncode,
            f"terraform {step}: the state is locked"
            + (f" (lock {lock_id})" if lock_id else "")
            + f" and stayed locked for -lock-timeout={invocation.lock_timeout}; nothing was "
            "changed. If the run that holds it is gone (its Who/Created above; in GitHub, no "
            f"run of this environment is still in progress), release it with `{unlock}` "
            "and run again",
        )


# Terraform's own words when it cannot take the lock, and the ID it prints in "Lock Info".
_LOCK_ERROR = "Error acquiring the state lock"
_LOCK_ID = re.compile(r"^[\s│|]*ID:\s+([A-Za-z0-9][A-Za-z0-9._:-]{0,127})\s*$", re.MULTILINE)


_COLOUR = re.compile(r"\x1b\[[0-9;]*m")


def state_lock_id(stderr_tail: str) -> str | None:
    """The lock's ID from terraform's lock error (text from outside: only an ID-shaped word)."""
    match = _LOCK_ID.search(_COLOUR.sub("", stderr_tail))
    return match[1] if match else None


# Signals shipline passes on to terraform: the first asks it to stop gracefully (it finishes
# what is in flight, saves the state, releases the lock); Terraform itself treats a second
# interrupt as "exit at once", so the next signal escalates, and a third kills it.
_ESCALATION = (signal.SIGINT, signal.SIGTERM, signal.SIGKILL)


@contextmanager
def _forwarding_signals(process: subprocess.Popen[str], received: list[str]) -> Iterator[None]:
    """While terraform runs: SIGINT/SIGTERM to us are passed on to it, escalating, never
    dropped, and we keep waiting for it to exit (main thread only; else a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def forward(signum: int, _frame: Any) -> None:
        name = signal.Signals(signum).name
        step = _ESCALATION[min(len(received), len(_ESCALATION) - 1)]
        received.append(name)
        what = {
            signal.SIGINT: "asking terraform to stop gracefully (a second signal stops it at once)",
            signal.SIGTERM: "telling terraform to stop at once (its state lock may stay held)",
            signal.SIGKILL: "killing terraform",
        }[step]
        os.write(2, f"shipline: {name}: {what}\n".encode())
        with suppress(ProcessLookupError):
            process.send_signal(step)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _tee(source: Any, sink: Any, tail: deque[str]) -> None:
    """Copy terraform's stderr through to ours line by line, keeping the last lines."""
    for line in iter(source.readline, ""):
        tail.append(line)
        if sink is not None:
            sink.write(line)
            sink.flush()


def run(
    command: Sequence[str], *, capture: bool = False, invocation: Invocation | None = None
) -> str:
    """Run terraform; its own output goes to stderr (stdout is for --json), unless captured.

    A SIGINT or SIGTERM to shipline meanwhile is passed on to terraform (see
    `_forwarding_signals`) and terraform is waited for. Raises UsageError when the executable
    is missing, StateLocked when the state lock stayed held, TerraformInterrupted after a
    signal, TerraformFailed when it exits non-zero.
    """
    environment = dict(os.environ, TF_IN_AUTOMATION="1", TF_INPUT="0")
    log = _log_stream()
    try:
        process = subprocess.Popen(
            list(command),
            env=environment,
            stdout=subprocess.PIPE if capture else log,
            stderr=subprocess.PIPE,
            text=True,
        )
    except FileNotFoundError:
        raise UsageError(
            f"terraform executable {command[0]!r} not found: install Terraform, or name it "
            "with --terraform or $SHIPLINE_TERRAFORM"
        ) from None
    except PermissionError:
        raise UsageError(f"terraform executable {command[0]!r} is not executable") from None
    received: list[str] = []
    tail: deque[str] = deque(maxlen=200)
    stdout: list[str] = []
    readers = [threading.Thread(target=_tee, args=(process.stderr, log or sys.stderr, tail))]
    piped = process.stdout  # a pipe when capturing, None otherwise
    if piped is not None:
        readers.append(threading.Thread(target=lambda: stdout.append(piped.read())))
    with _forwarding_signals(process, received):
        for reader in readers:
            reader.start()
        returncode = process.wait()
        for reader in readers:
            reader.join()
    step = next((part for part in command[1:] if not part.startswith("-")), "?")
    if received:
        raise TerraformInterrupted(step, returncode, received[0])
    if returncode != 0:
        text = "".join(tail)
        if _LOCK_ERROR in _COLOUR.sub("", text) and invocation is not None:
            raise StateLocked(step, returncode, state_lock_id(text), invocation)
        raise TerraformFailed(step, returncode)
    return "".join(stdout) if capture else ""
