"""The `shipline sim` sandbox for tests: one server process per session, clean for each test.

Fixtures (defined in tests/conftest.py):

- `sandbox` -> `Sandbox`: the session's sandbox, reset for this test (moto state, scheduler,
  call counts, default policy `DEFAULT_POLICY`), with AWS_ENDPOINT_URL, test credentials and
  AWS_REGION set in the environment, so `shipline.aws.client(...)` and boto3 talk to it.
  `sandbox.policy({...})` replaces the policy file (the sandbox re-reads it on the next request),
  `sandbox.calls()` / `sandbox.reset_calls()` read and clear the API call counts (and the
  counts of injected faults, `sandbox.faults()`; see the policy's `faults` section),
  `sandbox.health(cluster, service)` asks the health endpoint, `sandbox.client("ecs")` gives a
  boto3 client for the sandbox.
- `environment` -> `shipline.sim.seed.SeededEnvironment`: a converged environment (cluster, api,
  web and billing-worker services with 2 tasks each, ALB target groups, log groups, secrets,
  release-history bucket) seeded into that sandbox; `environment.shipline_config()` is a
  shipline.yml document for it.
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import requests

from shipline.sim.policy import write_policy

REGION = "us-east-1"
START_TIMEOUT = 30.0

# Short times keep tests fast; a test that needs others calls `sandbox.policy(...)`.
DEFAULT_POLICY: dict[str, Any] = {
    "services": {"*": {"converge_seconds": 0.2}},
    "tasks": {"*": {"run_seconds": 0.2}},
}
# converge_seconds is read on every request: a test that must see a deployment in progress
# holds it with HOLD_SECONDS, looks, then releases it with a short time (no timing windows).
HOLD_SECONDS = 600.0


def sim_command(*args: str, cli: bool = False) -> list[str]:
    """`shipline sim ARGS`; by default through `python -m shipline.sim`, which loads no other
    sub-command (the CLI route itself is tested in test_sim_process.py)."""
    if cli:
        return [sys.executable, "-m", "shipline", "sim", *args]
    return [sys.executable, "-m", "shipline.sim", *args]


def read_first_line(process: subprocess.Popen[bytes], timeout: float) -> str:
    """The first stdout line of `process`, or an error naming what happened instead."""
    assert process.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    line = b""
    while not line.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not selector.select(remaining):
            raise RuntimeError(f"shipline sim printed no URL within {timeout:g}s")
        chunk = os.read(process.stdout.fileno(), 1)
        if not chunk:
            raise RuntimeError(f"shipline sim exited ({process.wait()}) before printing its URL")
        line += chunk
    selector.close()
    return line.decode().strip()


class SandboxProcess:
    """`shipline sim --port 0 --policy FILE` as a subprocess; stderr kept in a file."""

    def __init__(self, workdir: Path) -> None:
        self.policy_path = workdir / "sim-policy.json"
        self.stderr_path = workdir / "sim-stderr.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self) -> str:
        write_policy(self.policy_path, DEFAULT_POLICY)
        with self.stderr_path.open("wb") as stderr:
            self.process = subprocess.Popen(
                sim_command("--port", "0", "--policy", str(self.policy_path)),
                stdout=subprocess.PIPE,
                stderr=stderr,
            )
        try:
            self.url = read_first_line(self.process, START_TIMEOUT)
        except RuntimeError as exc:
            self.stop()
            raise RuntimeError(f"{exc}; stderr: {self.stderr()[-2000:]}") from None
        return self.url

    def stop(self) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
        return self.process.returncode

    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")


@dataclass
class Sandbox:
    """The sandbox as a test sees it (see the module docstring)."""

    process: SandboxProcess
    region: str = REGION

    @property
    def url(self) -> str:
        return self.process.url

    def policy(self, document: dict[str, Any]) -> None:
        write_policy(self.process.policy_path, document)

    def calls(self) -> dict[str, int]:
        answer = requests.get(f"{self.url}/_sim/calls", timeout=10)
        answer.raise_for_status()
        return dict(answer.json())

    def faults(self) -> dict[str, int]:
        """Faults injected since the last reset: `{"ecs.RunTask 400 ThrottlingException": 2}`."""
        answer = requests.get(f"{self.url}/_sim/faults", timeout=10)
        answer.raise_for_status()
        return dict(answer.json())

    def reset_calls(self) -> None:
        requests.post(f"{self.url}/_sim/calls/reset", timeout=10).raise_for_status()

    def reset(self) -> None:
        """moto's state, the scheduler, the call counts and the policy back to the start."""
        process = self.process.process
        if process is not None and process.poll() is not None:
            raise RuntimeError(
                f"shipline sim exited ({process.returncode}); stderr: {self.stderr()[-2000:]}"
            )
        self.policy(DEFAULT_POLICY)
        requests.post(f"{self.url}/moto-api/reset", timeout=30).raise_for_status()
        self.reset_calls()

    def health(self, cluster: str, service: str) -> tuple[int, dict[str, Any]]:
        answer = requests.get(f"{self.url}/_sim/health/{cluster}/{service}", timeout=10)
        return answer.status_code, answer.json()

    def client(self, service: str) -> Any:
        """A boto3 client for the sandbox (one per service and region, shared in the session)."""
        return _client(self.url, self.region, service)

    def stderr(self) -> str:
        return self.process.stderr()


@cache
def _client(endpoint_url: str, region: str, service: str) -> Any:
    import boto3

    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=region
    )
    return session.client(service, endpoint_url=endpoint_url)


def aws_environment(url: str, region: str = "us-east-1") -> dict[str, str]:
    """The AWS settings that point boto3 (and shipline) at the sandbox at `url`."""
    return {
        "AWS_ENDPOINT_URL": url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
    }


def point_environment_at(sandbox: Sandbox, monkeypatch: Any) -> None:
    """AWS settings for this test: the sandbox endpoint, test credentials, the region."""
    for name, value in aws_environment(sandbox.url, sandbox.region).items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    from shipline import aws

    aws.client.cache_clear()  # clients made before this test may point elsewhere


def wait_for(condition: Any, timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Poll `condition()` until it returns something truthy; that value, or AssertionError."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout:g}s (last: {value!r})")
        time.sleep(interval)


def register_revision(ecs: Any, task_definition: str, container: str, image: str) -> str:
    """A new revision of `task_definition` with `container` running `image`; its ARN."""
    from shipline.release.plan import render_task_definition

    current = ecs.describe_task_definition(taskDefinition=task_definition)["taskDefinition"]
    document = render_task_definition(current, container, image)
    return str(ecs.register_task_definition(**document)["taskDefinition"]["taskDefinitionArn"])
