"""requirements.lock (what setup-shipline installs, with --require-hashes) agrees with
pyproject.toml, and the test environment runs exactly its versions."""

from __future__ import annotations

import importlib.metadata
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from support.dependency_lock import LOCK, applicable_pins, pins

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def declared() -> list[Requirement]:
    document = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))
    runtime = document["project"]["dependencies"]
    build = document["build-system"]["requires"]  # setup-shipline installs without isolation
    return [Requirement(text) for text in [*runtime, *build]]


def test_every_runtime_dependency_is_locked_inside_its_range():
    locked = {pin.name: pin.version for pin in pins()}
    for requirement in declared():
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{name} is not in {LOCK.name}: run `make lock`"
        assert requirement.specifier.contains(locked[name], prereleases=True), (
            f"{name}=={locked[name]} in {LOCK.name} is outside pyproject's {requirement}"
        )


def test_every_locked_version_carries_hashes():
    for pin in pins():
        assert pin.hashes >= 1, pin.name


def test_the_tests_run_exactly_the_locked_versions():
    for name, version in applicable_pins().items():
        assert importlib.metadata.version(name) == version, name
