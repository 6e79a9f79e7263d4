"""setup-shipline used from another repository: the cache key is the action's own lock, and the
install is exactly that lock, checked by hash, then shipline built from the action's source and
installed as its wheel is.

The action is taken from a copy of this repository's tracked files outside the workspace (as
the runner downloads it to its _actions folder); the workspace is another repository's
checkout. actions/setup-python is not run: where it would run, the test computes which files
its pip cache key would hash, by setup-python v7.0.0's rule (src/cache-distributions/
pip-cache.ts, computeKeys; @actions/glob hashFiles): the files matching cache-dependency-path,
skipping any outside GITHUB_WORKSPACE; when none, `**/pyproject.toml`; when none either, the
step fails ("No file in ... matched").
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from support.actions.runner import StepResult, run_action
from support.dependency_lock import applicable_pins

REPO = Path(__file__).resolve().parents[2]
SETUP_PYTHON = "actions/setup-python@5fda3b95a4ea91299a34e894583c3862153e4b97"


def files_setup_python_hashes(with_: dict[str, str], workspace: Path) -> list[Path]:
    """The files actions/setup-python v7.0.0 hashes into its pip cache key (module docstring)."""

    def matching(patterns: str) -> list[Path]:
        found: list[Path] = []
        for pattern in filter(None, (line.strip() for line in patterns.splitlines())):
            absolute = pattern if Path(pattern).is_absolute() else str(workspace / pattern)
            for name in sorted(glob.glob(absolute, recursive=True)):  # noqa: PTH207 (a pattern)
                path = Path(name).resolve()
                if path.is_file() and path.is_relative_to(workspace.resolve()):
                    found.append(path)
        return found

    return matching(with_.get("cache-dependency-path") or "**/requirements.txt") or matching(
        "**/pyproject.toml"
    )


def copy_of_this_repository(target: Path) -> Path:
    """This repository's tracked (and new, not ignored) files, as a clone would have them."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = REPO / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def other_repository(path: Path, pyproject: str | None) -> Path:
    path.mkdir()
    subprocess.run(["git", "init", "--quiet", str(path)], check=True)
    (path / "README.md").write_text("another project\n")
    if pyproject is not None:
        (path / "pyproject.toml").write_text(pyproject)
    return path


UNRELATED_PYPROJECT = '[project]\nname = "shop"\nversion = "1.0"\ndependencies = ["django"]\n'


@pytest.mark.installs
def test_setup_shipline_from_another_repository_keys_its_cache_on_its_lock_and_installs_it(
    tmp_path,
):
    action_repo = copy_of_this_repository(tmp_path / "runner" / "_actions" / "shipline")
    action = action_repo / "actions" / "setup-shipline"
    lock = (action_repo / "requirements.lock").read_text()
    # The job's Python after setup-python: a fresh interpreter with nothing installed.
    job_python = tmp_path / "job-python"
    subprocess.run([sys.executable, "-m", "venv", str(job_python)], check=True)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("GITHUB_", "VIRTUAL_ENV", "PYTHONPATH"))
    }
    env["PATH"] = os.pathsep.join([str(job_python / "bin"), "/usr/bin", "/bin"])

    for name, pyproject, expect_install in (
        ("no-pyproject", None, "true"),
        ("unrelated-pyproject", UNRELATED_PYPROJECT, "false"),  # same job: installed already
    ):
        workspace = other_repository(tmp_path / name, pyproject)
        hashed: list[list[str]] = []  # the content of each file setup-python would hash

        def at_setup_python(step: StepResult, root: Path, seen: list[list[str]] = hashed) -> None:
            assert step.skipped == f"not executed: {SETUP_PYTHON}"
            assert step.with_["cache"] == "pip"
            seen.append([path.read_text() for path in files_setup_python_hashes(step.with_, root)])

        done = run_action(
            action,
            {"python-version": "3.12"},
            env={**env, "GITHUB_WORKSPACE": str(workspace)},
            workspace=workspace,
            on_uses=at_setup_python,
            timeout=600,
        )
        assert done.exit_code == 0, done.log
        # The cache key is the action's own lock, whatever the caller's checkout holds.
        assert hashed == [[lock]], name
        # ... and the workspace is left as the caller had it.
        assert sorted(p.name for p in workspace.iterdir()) == sorted(
            [".git", "README.md"] + (["pyproject.toml"] if pyproject else [])
        )
        assert done.outputs["installed"] == expect_install, done.log
        assert done.outputs["python"] == str(job_python / "bin" / "python")
        assert done.outputs["version"].startswith("shipline ")

    # Exactly the locked versions, and shipline itself from the action's source.
    frozen = subprocess.run(
        [str(job_python / "bin" / "python"), "-m", "pip", "list", "--format=freeze"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    installed = {
        canonicalize_name(name): version
        for name, version in (line.split("==", 1) for line in frozen.splitlines() if "==" in line)
    }
    for package, version in applicable_pins().items():
        assert installed.get(package) == version, package
    assert installed["shipline"]
    # shipline itself is built from the action's source and installed as its wheel is (not
    # editable): the package, JSON Schemas included, lives in the job's Python.
    shown = subprocess.run(
        [
            str(job_python / "bin" / "python"),
            "-c",
            "import shipline; from importlib.metadata import distribution as d; "
            "print(shipline.__file__); print(d('shipline').read_text('direct_url.json'))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert Path(shown[0]).is_relative_to(job_python), shown
    assert json.loads(shown[1]) == {"url": action_repo.resolve().as_uri(), "dir_info": {}}
    checked = subprocess.run(
        [str(job_python / "bin" / "shipline"), "config", "check", "--config", "shipline.yml"],
        cwd=action_repo / "examples" / "starter",
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr
