"""Runs a composite action's `run:` steps the way GitHub's runner does, so tests exercise them.

What it does as GitHub does:
- inputs come from `with` (plus each input's literal `default`) and reach scripts only through
  expressions such as `${{ inputs.name }}` in a step's `env:`. GitHub sets no INPUT_* variables
  for composite actions (actions/runner#665), so neither does this runner: a script reading
  $INPUT_X would pass here and break there.
- each step runs as `bash --noprofile --norc -eo pipefail <script>` in the workspace, with fresh
  GITHUB_OUTPUT and GITHUB_STEP_SUMMARY files; GITHUB_ENV and GITHUB_PATH carry over to the steps
  after it. `steps.<id>.outputs.<name>` feed later steps and the action's `outputs:`.
- a failed step skips the following steps unless their `if:` says `always()` or `failure()`.
- `uses:` steps are NOT executed (they are third-party actions: setup-python, setup-terraform);
  the result lists each one it skipped with its evaluated `with:`, and a test can look at the
  job at that moment (`on_uses`), so tests assert only on shipline's own steps.
- a cancel (`Cancel`) is delivered as the runner delivers it (actions/runner, ProcessInvoker):
  SIGINT to the step's own bash process only, SIGTERM to it 7.5 s later, SIGKILL 2.5 s after
  that; nothing goes to the process group. What the step left running is killed when the job
  ends (here: when the action's run ends). After a cancel only steps whose `if:` calls
  `always()` or `cancelled()` run.

Anything else (another context, function, shell or step key) raises UnsupportedError: a test
must never pass because the runner silently did something GitHub would not.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

STEP_KEYS = {"id", "name", "if", "run", "shell", "env", "uses", "with", "working-directory"}
STATUS_FUNCTIONS = {"always", "success", "failure", "cancelled"}
_EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}", re.DOTALL)
_TOKEN = re.compile(
    r"\s*(?:(?P<string>'(?:[^']|'')*')|(?P<op>==|!=|&&|\|\||!|\(|\))"
    r"|(?P<word>[A-Za-z_][A-Za-z0-9_.-]*))"
)


# The runner's cancel: SIGINT, then SIGTERM after 7.5 s, then SIGKILL after 2.5 s more.
SIGINT_TO_SIGTERM = 7.5
SIGTERM_TO_SIGKILL = 2.5


class UnsupportedError(Exception):
    """The action uses a form the runner does not model; extend the runner deliberately."""


@dataclass(frozen=True)
class Cancel:
    """Cancel the run while step `step` runs, once `when(log so far)` is true."""

    step: str
    when: Callable[[str], bool]


@dataclass
class StepResult:
    index: int
    id: str | None
    name: str
    ran: bool
    skipped: str | None = None  # why it did not run
    exit_code: int | None = None
    outputs: dict[str, str] = field(default_factory=dict)
    log: str = ""
    summary: str = ""
    with_: dict[str, str] = field(default_factory=dict)  # a `uses:` step's evaluated `with:`
    signals: list[str] = field(default_factory=list)  # what a cancel sent to the step's process


@dataclass
class ActionRun:
    action: Path
    exit_code: int
    outputs: dict[str, str]
    steps: list[StepResult]
    env: dict[str, str]  # what the action added through GITHUB_ENV
    path: list[str]  # what it added through GITHUB_PATH
    cancelled: bool = False

    @property
    def summary(self) -> str:
        return "".join(step.summary for step in self.steps)

    @property
    def log(self) -> str:
        return "\n".join(f"--- step {s.index} {s.name}\n{s.log}" for s in self.steps if s.ran)

    @property
    def skipped_uses(self) -> list[str]:
        return [s.skipped.removeprefix("not executed: ") for s in self.steps if _is_uses_skip(s)]

    @property
    def annotations(self) -> list[tuple[str, str]]:
        """Workflow commands (`::error::msg`, `::warning ...::msg`) printed by the steps."""
        found = []
        for line in self.log.splitlines():
            match = re.match(r"^::(error|warning|notice)(?: [^:]*)?::(.*)$", line)
            if match:
                found.append((match[1], match[2]))
        return found

    def step(self, step_id: str) -> StepResult:
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(f"no step with id {step_id!r} in {self.action}")


def _why_not(context: Context) -> str:
    if context.cancelled:
        return "the run was cancelled"
    return "an earlier step failed" if context.failed else "condition false"


def _is_uses_skip(step: StepResult) -> bool:
    return bool(step.skipped and step.skipped.startswith("not executed: "))


def load_action(action_dir: Path) -> dict[str, Any]:
    path = action_dir / "action.yml"
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    if document.get("runs", {}).get("using") != "composite":
        raise UnsupportedError(f"{path}: only composite actions can be run")
    return document


def parse_command_file(text: str, source: str = "command file") -> dict[str, str]:
    """`name=value` and `name<<DELIM ... DELIM` lines, as the runner reads GITHUB_OUTPUT/ENV."""
    values: dict[str, str] = {}
    lines = text.split("\n")
    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        if not line.strip():
            continue
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            body = []
            while index < len(lines) and lines[index] != delimiter:
                body.append(lines[index])
                index += 1
            if index >= len(lines):
                raise ValueError(f"{source}: {name!r} has no closing delimiter {delimiter!r}")
            index += 1
            values[name] = "\n".join(body)
        elif "=" in line:
            name, value = line.split("=", 1)
            values[name] = value
        else:
            raise ValueError(f"{source}: line is neither name=value nor name<<DELIM: {line!r}")
    return values


class Context:
    """The expression contexts an action step can see, limited to the forms the actions use."""

    def __init__(
        self,
        inputs: dict[str, str],
        action_path: Path,
        env: Mapping[str, str],
        known_steps: set[str],
    ) -> None:
        self.inputs = inputs
        self.action_path = action_path
        self.env = env
        self.known_steps = known_steps
        self.step_outputs: dict[str, dict[str, str]] = {}
        self.failed = False
        self.cancelled = False

    def lookup(self, name: str) -> Any:
        parts = name.split(".")
        if parts[0] == "inputs" and len(parts) == 2:
            key = parts[1].lower()
            if key not in self.inputs:
                raise UnsupportedError(f"inputs.{parts[1]} is not an input of the action")
            return self.inputs[key]
        if parts[0] == "steps" and len(parts) == 4 and parts[2] == "outputs":
            if parts[1] not in self.known_steps:
                raise UnsupportedError(f"{name}: no step with id {parts[1]!r} in the action")
            return self.step_outputs.get(parts[1], {}).get(parts[3], "")
        if name == "github.action_path":
            return str(self.action_path)
        if parts[0] == "env" and len(parts) == 2:
            return self.env.get(parts[1], "")
        raise UnsupportedError(f"expression context {name!r} is not supported by the runner")


class _Parser:
    """Recursive descent over: literals, context names, == != ! && || ( ) and status checks."""

    def __init__(self, text: str, context: Context) -> None:
        self.text = text
        self.context = context
        self.tokens = self._tokenize(text)
        self.position = 0

    def _tokenize(self, text: str) -> list[tuple[str, str]]:
        tokens, position = [], 0
        while position < len(text):
            if text[position:].strip() == "":
                break
            match = _TOKEN.match(text, position)
            if not match:
                raise UnsupportedError(f"unsupported expression form: {text.strip()!r}")
            kind = match.lastgroup or ""
            tokens.append((kind, match[kind]))
            position = match.end()
        return tokens

    def parse(self) -> Any:
        value = self._or()
        if self.position != len(self.tokens):
            raise UnsupportedError(f"unsupported expression form: {self.text.strip()!r}")
        return value

    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def _take(self) -> tuple[str, str]:
        token = self._peek()
        if token is None:
            raise UnsupportedError(f"incomplete expression: {self.text.strip()!r}")
        self.position += 1
        return token

    def _or(self) -> Any:
        value = self._and()
        while self._peek() == ("op", "||"):
            self._take()
            right = self._and()
            value = value if _truthy(value) else right
        return value

    def _and(self) -> Any:
        value = self._comparison()
        while self._peek() == ("op", "&&"):
            self._take()
            right = self._comparison()
            value = right if _truthy(value) else value
        return value

    def _comparison(self) -> Any:
        left = self._unary()
        token = self._peek()
        if token in (("op", "=="), ("op", "!=")):
            self._take()
            right = self._unary()
            equal = _equal(left, right, self.text)
            return equal if token[1] == "==" else not equal
        return left

    def _unary(self) -> Any:
        if self._peek() == ("op", "!"):
            self._take()
            return not _truthy(self._unary())
        return self._primary()

    def _primary(self) -> Any:
        kind, text = self._take()
        if kind == "string":
            return text[1:-1].replace("''", "'")
        if kind == "op" and text == "(":
            value = self._or()
            if self._take() != ("op", ")"):
                raise UnsupportedError(f"unbalanced parentheses: {self.text.strip()!r}")
            return value
        if kind == "word":
            if text in ("true", "false"):
                return text == "true"
            if text == "null":
                return None
            if self._peek() == ("op", "("):
                self._take()
                if self._take() != ("op", ")") or text not in STATUS_FUNCTIONS:
                    raise UnsupportedError(f"function {text}() is not supported by the runner")
                return self._status(text)
            return self.context.lookup(text)
        raise UnsupportedError(f"unsupported expression form: {self.text.strip()!r}")

    def _status(self, function: str) -> bool:
        if function == "always":
            return True
        if function == "success":
            return not self.context.failed and not self.context.cancelled
        if function == "failure":
            return self.context.failed
        return self.context.cancelled


def _truthy(value: Any) -> bool:
    return value not in (False, None, "", 0)


def _equal(left: Any, right: Any, text: str) -> bool:
    if type(left) is not type(right):
        # GitHub converts both sides to numbers here ('true' becomes NaN): almost always a bug.
        raise UnsupportedError(f"comparison of different types in {text.strip()!r}")
    if isinstance(left, str):
        return left.casefold() == right.casefold()  # GitHub compares strings ignoring case
    return left == right


def evaluate(expression: str, context: Context) -> Any:
    return _Parser(expression, context).parse()


def interpolate(text: Any, context: Context) -> str:
    """Replace every `${{ expr }}` in a string value, as GitHub does for env/with/outputs."""
    if not isinstance(text, str):
        return _as_text(text)
    return _EXPRESSION.sub(lambda match: _as_text(evaluate(match[1], context)), text)


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def condition(step: dict[str, Any], context: Context) -> bool:
    raw = step.get("if")
    if raw is None:
        return not context.failed and not context.cancelled
    text = str(raw).strip()
    if text.startswith("${{") and text.endswith("}}"):
        text = text[3:-2]
    uses_status = re.search(r"\b(always|success|failure|cancelled)\s*\(", text)
    value = evaluate(text, context)
    # Without a status function GitHub wraps the condition in success() && (...).
    if uses_status:
        return _truthy(value)
    return not context.failed and not context.cancelled and _truthy(value)


def resolve_inputs(document: dict[str, Any], given: Mapping[str, str]) -> dict[str, str]:
    declared = {name.lower(): spec or {} for name, spec in (document.get("inputs") or {}).items()}
    unknown = sorted(set(name.lower() for name in given) - set(declared))
    if unknown:
        raise UnsupportedError(f"inputs not declared by the action: {', '.join(unknown)}")
    values = {}
    for name, spec in declared.items():
        if name in {key.lower() for key in given}:
            values[name] = next(str(v) for k, v in given.items() if k.lower() == name)
        elif "default" in spec:
            default = str(spec["default"])
            if "${{" in default:
                raise UnsupportedError(f"input {name}: expression defaults are not supported")
            values[name] = default
        elif spec.get("required"):
            raise UnsupportedError(f"required input {name!r} not given")
        else:
            values[name] = ""
    return values


def run_action(
    action_dir: Path,
    inputs: Mapping[str, str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    workspace: Path | None = None,
    runner_temp: Path | None = None,
    timeout: float = 300.0,
    cancel: Cancel | None = None,
    on_uses: Callable[[StepResult, Path], None] | None = None,
) -> ActionRun:
    """Run the composite action at action_dir; `env` is the job's environment (default: ours).

    RUNNER_TEMP lives as long as the job on GitHub: pass `runner_temp` to read files an action
    leaves there (its result files); by default it goes with the run. `cancel` cancels the run
    during one step as GitHub's runner does; `on_uses(step, workspace)` is called where a
    `uses:` step would run, to look at what it would see.
    """
    action_dir = Path(action_dir).resolve()
    document = load_action(action_dir)
    steps = document["runs"]["steps"]
    known_steps = {str(step["id"]) for step in steps if "id" in step}
    base_env = {
        key: value
        for key, value in (os.environ if env is None else env).items()
        if not key.startswith("INPUT_")
    }
    workspace = Path(workspace or Path.cwd()).resolve()

    with tempfile.TemporaryDirectory(prefix="action-run-") as scratch:
        scratch_dir = Path(scratch)
        runner_temp = Path(runner_temp) if runner_temp else scratch_dir / "temp"
        runner_temp.mkdir(parents=True, exist_ok=True)
        env_file = scratch_dir / "env"
        path_file = scratch_dir / "path"
        env_file.touch()
        path_file.touch()
        added_env: dict[str, str] = {}
        added_path: list[str] = []
        context = Context(resolve_inputs(document, inputs or {}), action_dir, base_env, known_steps)
        results: list[StepResult] = []
        exit_code = 0
        leftovers: list[int] = []  # process groups of cancelled steps, killed at the job's end

        for index, step in enumerate(steps):
            unknown_keys = set(step) - STEP_KEYS
            if unknown_keys:
                raise UnsupportedError(f"step {index}: unsupported keys {sorted(unknown_keys)}")
            step_id = str(step["id"]) if "id" in step else None
            name = str(step.get("name") or step.get("run") or step.get("uses"))
            result = StepResult(index=index, id=step_id, name=name, ran=False)
            results.append(result)
            step_env = {
                key: interpolate(value, context) for key, value in (step.get("env") or {}).items()
            }
            if "uses" in step:
                # Bad references fail even when the step is not executed.
                result.with_ = {
                    str(key): interpolate(value, context)
                    for key, value in (step.get("with") or {}).items()
                }
                if condition(step, context):
                    result.skipped = f"not executed: {step['uses']}"
                    if on_uses is not None:
                        on_uses(result, workspace)
                else:
                    result.skipped = _why_not(context)
                continue
            if not condition(step, context):
                result.skipped = _why_not(context)
                continue
            if step.get("shell") != "bash":
                raise UnsupportedError(f"step {index}: only `shell: bash` is supported")

            output_file = scratch_dir / f"output-{index}"
            summary_file = scratch_dir / f"summary-{index}"
            output_file.touch()
            summary_file.touch()
            script = scratch_dir / f"step-{index}.sh"
            script.write_text(interpolate(step["run"], context), encoding="utf-8")
            process_env = {**base_env, **added_env, **step_env}
            process_env["PATH"] = os.pathsep.join([*added_path, base_env.get("PATH", "")])
            process_env.update(
                GITHUB_ACTIONS="true",
                CI="true",
                GITHUB_ACTION_PATH=str(action_dir),
                GITHUB_WORKSPACE=str(workspace),
                RUNNER_TEMP=str(runner_temp),
                RUNNER_OS="Linux",
                GITHUB_OUTPUT=str(output_file),
                GITHUB_STEP_SUMMARY=str(summary_file),
                GITHUB_ENV=str(env_file),
                GITHUB_PATH=str(path_file),
            )
            directory = workspace
            if "working-directory" in step:
                directory = workspace / interpolate(step["working-directory"], context)
            step_cancel = cancel if cancel is not None and cancel.step == step_id else None
            returncode, log, group = _run_step(
                ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
                directory,
                process_env,
                timeout,
                step_cancel,
                result.signals,
            )
            if result.signals:
                context.cancelled = True
                leftovers.append(group)
            result.ran = True
            result.exit_code = returncode
            result.log = log
            result.outputs = parse_command_file(output_file.read_text(), f"step {index} output")
            result.summary = summary_file.read_text()
            if step_id:
                context.step_outputs[step_id] = result.outputs
            added_env = parse_command_file(env_file.read_text(), "GITHUB_ENV")
            added_path = list(reversed(path_file.read_text().split()))
            context.env = {**base_env, **added_env}
            if returncode != 0 and exit_code == 0:
                exit_code = returncode
            if returncode != 0 and not result.signals:
                context.failed = True  # a cancelled step is cancelled, not failed

        for group in leftovers:  # the job ends: what a cancelled step left running is killed
            _kill_group(group)
        if cancel is not None and not context.cancelled:
            # A test that meant to cancel must not pass on a run that was never cancelled.
            raise UnsupportedError(f"the cancel of step {cancel.step!r} never happened")
        outputs = {
            name: interpolate((spec or {}).get("value", ""), context)
            for name, spec in (document.get("outputs") or {}).items()
        }
        return ActionRun(
            action=action_dir,
            exit_code=exit_code,
            outputs=outputs,
            steps=results,
            env=added_env,
            path=added_path,
            cancelled=context.cancelled,
        )


def _run_step(
    command: list[str],
    directory: Path,
    env: Mapping[str, str],
    timeout: float,
    cancel: Cancel | None,
    sent: list[str],
) -> tuple[int, str, int]:
    """Run one step's process: (exit code, its output, its process group).

    The process gets a group of its own only so that the job's end can find what it left
    behind; signals of a cancel go to its pid alone, as the runner sends them.
    """
    process = subprocess.Popen(
        command,
        cwd=directory,
        env=dict(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    chunks: list[str] = []
    assert process.stdout is not None
    stdout = process.stdout
    reader = threading.Thread(target=lambda: chunks.extend(iter(stdout.readline, "")), daemon=True)
    reader.start()
    deadline = time.monotonic() + timeout
    try:
        while process.poll() is None:
            if cancel is not None and not sent and cancel.when("".join(chunks)):
                _cancel(process, sent)
                break
            if time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(command, timeout)
            time.sleep(0.05)
    except BaseException:
        _kill_group(process.pid)
        process.wait()
        reader.join()
        raise
    if sent:
        # The job's end kills what the step left, so the output pipe closes; read it all then.
        process.wait()
        reader.join(timeout=0.5)
        return process.returncode, "".join(chunks), process.pid
    reader.join()
    return process.wait(), "".join(chunks), process.pid


def _cancel(process: subprocess.Popen[str], sent: list[str]) -> None:
    """SIGINT to the step's process; SIGTERM 7.5 s later; SIGKILL 2.5 s after that."""
    for signum, grace in (
        (signal.SIGINT, SIGINT_TO_SIGTERM),
        (signal.SIGTERM, SIGTERM_TO_SIGKILL),
        (signal.SIGKILL, None),
    ):
        process.send_signal(signum)
        sent.append(signum.name)
        try:
            process.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def _kill_group(group: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group, signal.SIGKILL)
