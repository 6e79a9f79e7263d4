"""The sandbox stands apart from the code it tests, and the demo runs flows, not the CLI.

A sandbox that imported the CLI or the release engine could hide a product bug in the state it
seeds (or break when a command changes); a demo that re-entered `cli.main` would be a second
command line inside a command. Read from the source, so nothing needs importing.
"""

from __future__ import annotations

import ast
from pathlib import Path

import shipline

PACKAGE = Path(shipline.__file__).parent
# What the sandbox may not import: the command line and the release engine under test.
UNDER_TEST = ("shipline.cli", "shipline.commands", "shipline.release")


def imported_modules(path: Path) -> set[str]:
    """Every module `path` imports, at any depth (also inside functions)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def reaches(module: str, targets: tuple[str, ...]) -> bool:
    return any(module == target or module.startswith(f"{target}.") for target in targets)


def test_the_sandbox_imports_neither_the_cli_nor_the_release_engine():
    offending = {
        f"{path.relative_to(PACKAGE)}: {module}"
        for path in sorted((PACKAGE / "sim").glob("*.py"))
        for module in imported_modules(path)
        if reaches(module, UNDER_TEST)
    }
    assert not offending


def test_the_demo_runs_the_flows_not_the_command_line():
    """The story (`shipline.demo`) reaches no command; the `demo` command does not re-enter
    `cli.main` (it renders each step with the commands' own renderers)."""
    offending = {
        f"{path.relative_to(PACKAGE)}: {module}"
        for path, forbidden in (
            (PACKAGE / "commands" / "demo.py", ("shipline.cli",)),
            (PACKAGE / "demo.py", ("shipline.cli", "shipline.commands")),
        )
        if path.exists()
        for module in imported_modules(path)
        if reaches(module, forbidden)
    }
    assert not offending
