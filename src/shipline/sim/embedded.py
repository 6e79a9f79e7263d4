"""A sandbox inside this process with a seeded environment, and AWS settings pointing at it.

`shipline demo` runs its story inside `embedded_environment()`; anything that talks to AWS
through `shipline.aws.client` (or plain boto3) reaches the sandbox while the block runs.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shipline.sim.policy import write_policy
from shipline.sim.seed import SeededEnvironment, seed_environment
from shipline.sim.server import Sandbox, running_sandbox

# Settings that would send calls elsewhere or sign them with someone's real credentials.
_AWS_VARIABLES = (
    "AWS_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
)


@contextmanager
def aws_settings_for(endpoint_url: str, region: str) -> Iterator[None]:
    """AWS_ENDPOINT_URL, test credentials and the region in os.environ; restored afterwards."""
    from shipline import aws

    saved = {name: os.environ.get(name) for name in _AWS_VARIABLES}
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE"):
        os.environ.pop(name, None)
    os.environ.update(
        {
            "AWS_ENDPOINT_URL": endpoint_url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
        }
    )
    aws.client.cache_clear()
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        aws.client.cache_clear()


@dataclass
class EmbeddedSandbox:
    sandbox: Sandbox
    environment: SeededEnvironment
    policy_path: Path

    def set_policy(self, document: dict[str, Any]) -> None:
        """Replace the sandbox policy; the next request uses it."""
        write_policy(self.policy_path, document)


@contextmanager
def embedded_environment(
    policy: dict[str, Any] | None = None,
    *,
    region: str = "us-east-1",
    name: str = "agent-saas-sim",
) -> Iterator[EmbeddedSandbox]:
    """Start a sandbox on a free loopback port, seed it, and point AWS settings at it."""
    with tempfile.TemporaryDirectory(prefix="shipline-sim-") as workdir:
        policy_path = Path(workdir) / "sim-policy.json"
        write_policy(policy_path, policy or {})
        with (
            running_sandbox(policy_path=policy_path) as sandbox,
            aws_settings_for(sandbox.url, region),
        ):
            environment = seed_environment(sandbox.url, region=region, name=name)
            yield EmbeddedSandbox(sandbox, environment, policy_path)
