"""The static gates over GitHub workflows and composite actions, as functions of file lists.

Each gate returns a list of findings (empty = pass), so the same code runs over the repository's
files and over the known-bad fixtures that prove the gate can fail.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[3]
PINS_FILE = REPO / ".github" / "action-pins.json"
ZIZMOR_CONFIG = REPO / ".github" / "zizmor.yml"
# Directories that hold no project files of their own (tools, caches, the gates' bad fixtures).
NOT_PROJECT = {".git", "node_modules", "__pycache__", ".pytest_cache", ".ruff_cache"}
FIXTURES = REPO / "tests" / "actions" / "fixtures"

# `uses:` lines as written, with the optional version comment: regexes, because YAML loaders
# drop comments. Cross-checked against the parsed documents so none is missed.
_USES_LINE = re.compile(
    r"^\s*(?:-\s+)?uses:\s*(?P<q>[\"']?)(?P<ref>[^\s\"'#]+)(?P=q)\s*(?:#\s*(?P<comment>.*\S))?\s*$"
)
_SHA = re.compile(r"^[0-9a-f]{40}$")
_EXPRESSION = re.compile(r"\$\{\{.*?\}\}", re.DOTALL)
_INPUT_VARIABLE = re.compile(r"\$\{?INPUT_[A-Za-z0-9_-]*")


def tool(name: str) -> str:
    """A gate tool from the dev extra, next to this Python; a clear failure when missing."""
    candidate = Path(sys.executable).parent / name
    found = str(candidate) if candidate.exists() else shutil.which(name)
    if not found:
        raise AssertionError(
            f"{name} is not installed: run `pip install -e '.[dev]'` (pinned in pyproject.toml)"
        )
    return found


def _project_files(names: set[str]) -> Iterator[Path]:
    """Files with one of `names` anywhere in the repository, tools' folders and fixtures aside."""
    for folder, subfolders, files in os.walk(REPO):
        here = Path(folder)
        subfolders[:] = sorted(
            name
            for name in subfolders
            if name not in NOT_PROJECT and not name.startswith(".venv") and here / name != FIXTURES
        )
        for name in sorted(files):
            if name in names:
                yield here / name


def workflow_files() -> list[Path]:
    folder = REPO / ".github" / "workflows"
    return sorted([*folder.glob("*.yml"), *folder.glob("*.yaml")])


def action_files() -> list[Path]:
    """Every action.yml in the repository (actions/*, .github/actions/*, anywhere else)."""
    return list(_project_files({"action.yml", "action.yaml"}))


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _run(command: list[str], cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def _lines(process: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in (process.stdout + process.stderr).splitlines() if line.strip()]


# --- actionlint (workflows; with shellcheck on their run: scripts) -----------------------------


def actionlint(workflows: Iterable[Path]) -> list[str]:
    files = [str(path) for path in workflows]
    if not files:
        return []
    process = _run(
        [tool("actionlint"), "-oneline", "-shellcheck", tool("shellcheck"), "-pyflakes=", *files]
    )
    if process.returncode not in (0, 1):
        raise AssertionError(f"actionlint crashed ({process.returncode}): {process.stderr}")
    return _lines(process) if process.returncode else []


# --- zizmor ------------------------------------------------------------------------------------


def zizmor(inputs: Iterable[Path | str]) -> list[str]:
    """Offline audits with zero findings allowed; schema errors fail too (strict collection)."""
    process = _run(
        [
            tool("zizmor"),
            "--offline",
            "--no-progress",
            "--strict-collection",
            "--config",
            str(ZIZMOR_CONFIG),
            "--format",
            "plain",
            *[str(path) for path in inputs],
        ]
    )
    if process.returncode == 0:
        return []
    return _lines(process) or [f"zizmor exited {process.returncode}"]


# --- check-jsonschema: GitHub's workflow and action schemas, timeout-minutes on every job -----


def check_schema(builtin: str, files: Iterable[Path]) -> list[str]:
    paths = [str(path) for path in files]
    if not paths:
        return []
    process = _run(
        [tool("check-jsonschema"), "--builtin-schema", builtin, "--output-format", "text", *paths]
    )
    return [] if process.returncode == 0 else _lines(process)


def workflow_schema(workflows: Iterable[Path]) -> list[str]:
    files = list(workflows)
    return check_schema("vendor.github-workflows", files) + check_schema(
        "custom.github-workflows-require-timeout", files
    )


def action_schema(actions: Iterable[Path]) -> list[str]:
    return check_schema("vendor.github-actions", actions)


# --- scripts of composite actions: no ${{ }} inside, shell bash, shellcheck clean -------------


@dataclass(frozen=True)
class Script:
    source: Path
    step: str
    shell: str | None
    text: str


def composite_scripts(action: Path) -> list[Script]:
    document = load_yaml(action) or {}
    steps = (document.get("runs") or {}).get("steps") or []
    return [
        Script(
            action, str(step.get("id") or step.get("name") or index), step.get("shell"), step["run"]
        )
        for index, step in enumerate(steps)
        if isinstance(step, dict) and "run" in step
    ]


def workflow_scripts(workflow: Path) -> list[Script]:
    document = load_yaml(workflow) or {}
    found = []
    for job_id, job in (document.get("jobs") or {}).items():
        for index, step in enumerate((job or {}).get("steps") or []):
            if isinstance(step, dict) and "run" in step:
                label = f"{job_id}.{step.get('id') or step.get('name') or index}"
                found.append(Script(workflow, label, step.get("shell"), step["run"]))
    return found


def expressions_in_scripts(scripts: Iterable[Script]) -> list[str]:
    """`${{ }}` inside a script is code injection waiting to happen: values go through env:."""
    return [
        f"{_shown(script.source)} step {script.step}: expression inside run: {match.group(0)}"
        for script in scripts
        for match in _EXPRESSION.finditer(script.text)
    ]


def _shown(path: Path) -> Path:
    return path.relative_to(REPO) if path.is_relative_to(REPO) else path


def shellcheck_composite(actions: Iterable[Path]) -> list[str]:
    """shellcheck every composite step's script (actionlint does not read action.yml)."""
    findings = []
    scripts = [script for action in actions for script in composite_scripts(action)]
    findings += expressions_in_scripts(scripts)
    # GitHub sets no INPUT_* variables for composite actions (actions/runner#665).
    findings += [
        f"{_shown(script.source)} step {script.step}: reads {match.group(0)}, which GitHub "
        "does not set in composite actions (pass the input through env:)"
        for script in scripts
        for match in _INPUT_VARIABLE.finditer(script.text)
    ]
    with tempfile.TemporaryDirectory(prefix="action-scripts-") as folder:
        files = []
        for index, script in enumerate(scripts):
            if script.shell != "bash":
                findings.append(f"{script.source} step {script.step}: shell must be bash")
                continue
            path = Path(folder) / f"{index:03d}-{script.source.parent.name}-{script.step}.sh"
            # GitHub runs `shell: bash` as `bash --noprofile --norc -eo pipefail {0}`.
            body = _EXPRESSION.sub("EXPRESSION", script.text)
            path.write_text("#!/usr/bin/env bash\nset -eo pipefail\n" + body, encoding="utf-8")
            files.append(path)
        if files:
            process = _run([tool("shellcheck"), "--format=gcc", *map(str, files)])
            findings += _lines(process) if process.returncode else []
    return findings


# --- third-party actions pinned to the allowed SHAs, with their version comment ---------------


def allowed_pins() -> dict[str, dict[str, str]]:
    document = json.loads(PINS_FILE.read_text(encoding="utf-8"))
    return {entry["action"]: entry for entry in document["actions"]}


def _parsed_uses(document: Any) -> list[str]:
    found = []
    if isinstance(document, dict):
        for key, value in document.items():
            if key == "uses" and isinstance(value, str):
                found.append(value)
            else:
                found += _parsed_uses(value)
    elif isinstance(document, list):
        for item in document:
            found += _parsed_uses(item)
    return found


def unpinned_uses(files: Iterable[Path], pins: dict[str, dict[str, str]]) -> list[str]:
    findings = []
    for path in files:
        text = path.read_text(encoding="utf-8")
        written = []
        for number, line in enumerate(text.splitlines(), 1):
            match = _USES_LINE.match(line)
            if not match:
                continue
            ref, comment = match["ref"], match["comment"]
            written.append(ref)
            where = f"{path}:{number}"
            if ref.startswith(("./", "$/")):
                continue  # this repository's own actions and workflows, at the running commit
            if ref.startswith("docker://"):
                findings.append(f"{where}: docker:// actions are not allowed: {ref}")
                continue
            name, _, version = ref.partition("@")
            owner_repo = "/".join(name.split("/")[:2])
            pin = pins.get(owner_repo)
            if pin is None:
                findings.append(
                    f"{where}: {owner_repo} is not in the allowed pins ({PINS_FILE.name})"
                )
            elif not _SHA.match(version):
                findings.append(f"{where}: {ref} is not pinned to a full commit SHA")
            elif version != pin["commit"]:
                findings.append(
                    f"{where}: {ref} is not the verified commit {pin['commit']} ({pin['version']})"
                )
            elif comment != pin["version"]:
                wanted = f"# {pin['version']}"
                findings.append(
                    f"{where}: {ref} needs the version comment `{wanted}` (found {comment!r})"
                )
        parsed = _parsed_uses(load_yaml(path))
        if sorted(parsed) != sorted(written):
            findings.append(f"{path}: `uses:` written in a form the pin check cannot read")
    return findings
