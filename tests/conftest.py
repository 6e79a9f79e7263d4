"""Test-session rules shared by every test, and the sandbox fixtures (support/sim_sandbox.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from support.sim_sandbox import Sandbox, SandboxProcess, point_environment_at

if TYPE_CHECKING:
    from shipline.sim.seed import SeededEnvironment

_skipped: list[str] = []


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Everything outside the unit layer starts processes or tools: `integration` (the slow part).
    unit = Path(__file__).resolve().parent / "unit"
    for item in items:
        if not item.path.is_relative_to(unit):
            item.add_marker(pytest.mark.integration)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped:
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # A skipped test hides a gap (a missing tool, a missing service): the run fails.
    if _skipped and session.exitstatus == 0:
        session.exitstatus = 1


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _skipped:
        terminalreporter.write_line(
            f"FAILED: {len(_skipped)} test(s) skipped; skips are failures here "
            "(install what they need, see .ci/run)",
            red=True,
        )


# --- the `shipline sim` sandbox (documented in tests/support/sim_sandbox.py) -------------------


# The caller's own CI or registry settings must not reach a test: each sets what it needs.
CALLER_ENVIRONMENT = (
    "SHIPLINE_REGISTRY",
    "SHIPLINE_REGISTRY_USERNAME",
    "SHIPLINE_REGISTRY_PASSWORD",
    "GITHUB_ACTOR",
    "GITHUB_ACTIONS",
)


@pytest.fixture(autouse=True)
def without_the_callers_ci_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in CALLER_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def sandbox_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    """One `shipline sim` subprocess for the whole session."""
    process = SandboxProcess(tmp_path_factory.mktemp("sim"))
    process.start()
    yield process
    process.stop()


@pytest.fixture
def sandbox(sandbox_process: SandboxProcess, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    """The sandbox, reset for this test, with AWS_ENDPOINT_URL and test credentials set."""
    box = Sandbox(sandbox_process)
    box.reset()
    point_environment_at(box, monkeypatch)
    return box


@pytest.fixture
def environment(sandbox: Sandbox) -> SeededEnvironment:
    """A converged environment (cluster, api/web/worker services, ...) seeded into `sandbox`."""
    from shipline.sim.seed import seed_environment

    return seed_environment(sandbox.url, region=sandbox.region)


@pytest.fixture
def ecs(sandbox: Sandbox) -> Any:
    """An ECS client of the sandbox."""
    return sandbox.client("ecs")


@pytest.fixture
def s3(sandbox: Sandbox) -> Any:
    """An S3 client of the sandbox."""
    return sandbox.client("s3")
