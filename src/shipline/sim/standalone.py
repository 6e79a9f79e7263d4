"""`shipline sim seed`: make a running standalone sandbox ready to deploy to by hand.

Seeds the demo environment (`seed.seed_environment`), pushes a second tag of the API and web
images, writes the matching shipline.yml and returns the shell `export` lines that point AWS
SDKs and shipline at the sandbox.
"""

from __future__ import annotations

import shlex
import time
from dataclasses import dataclass
from pathlib import Path

import requests
import yaml

from shipline.errors import UsageError
from shipline.sim.seed import SeededEnvironment, seed_environment

CONFIG_HEADER = "# written by `shipline sim seed`; it describes the sandbox's demo environment\n"
ENVIRONMENT = "sim"
NEXT_TAG = "v2"  # the tag a first deploy moves to (the services run v1)
IMAGE_VARIABLES = {"api": "SIM_API_IMAGE", "web": "SIM_WEB_IMAGE"}
REACH_POLL_SECONDS = 0.1


@dataclass(frozen=True)
class SeededSandbox:
    environment: SeededEnvironment
    config_path: Path
    next_images: dict[str, str]  # image key -> reference pushed for a deploy


def wait_until_reachable(endpoint_url: str, timeout: float) -> None:
    """Until the sandbox answers (`shipline sim ... &` may still be starting); exit 2 after."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if requests.get(f"{endpoint_url}/_sim/calls", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            raise UsageError(
                f"no shipline sandbox answers at {endpoint_url} after {timeout:g}s "
                "(start one with `shipline sim --port PORT &`)"
            )
        time.sleep(REACH_POLL_SECONDS)


def refuse_foreign_config(path: Path) -> None:
    """Only a shipline.yml this command wrote is replaced; a user's own file is kept."""
    if not path.exists():
        return
    try:
        ours = path.read_text(encoding="utf-8").startswith(CONFIG_HEADER)
    except (OSError, UnicodeDecodeError):
        ours = False
    if not ours:
        raise UsageError(
            f"{path} exists and was not written by `shipline sim seed`; "
            "pass --config with another path"
        )


def already_seeded(endpoint_url: str, region: str, cluster: str) -> bool:
    from shipline.sim.seed import _client

    ecs = _client(endpoint_url, region, "ecs")
    return bool(ecs.describe_clusters(clusters=[cluster])["clusters"])


def config_text(environment: SeededEnvironment) -> str:
    return CONFIG_HEADER + yaml.safe_dump(environment.shipline_config(ENVIRONMENT), sort_keys=False)


def export_lines(environment: SeededEnvironment, next_images: dict[str, str]) -> list[str]:
    """What a shell needs to `eval`: the endpoint, test credentials (never a user's own), the
    region, and the image references a first deploy can use."""
    values = {
        "AWS_ENDPOINT_URL": environment.endpoint_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": environment.region,
        "AWS_DEFAULT_REGION": environment.region,
        **{IMAGE_VARIABLES[key]: reference for key, reference in next_images.items()},
    }
    lines = ["unset AWS_SESSION_TOKEN AWS_PROFILE"]
    lines += [f"export {name}={shlex.quote(value)}" for name, value in values.items()]
    return lines


def seed_sandbox(
    endpoint_url: str,
    config_path: Path,
    *,
    region: str = "us-east-1",
    name: str = "agent-saas-sim",
    reach_timeout: float = 30.0,
) -> SeededSandbox:
    """Seed the sandbox at `endpoint_url` and write `config_path`; refused (exit 2) when the
    sandbox is unreachable, already holds the environment, or the file is someone else's."""
    endpoint_url = endpoint_url.rstrip("/")
    refuse_foreign_config(config_path)
    wait_until_reachable(endpoint_url, reach_timeout)
    if already_seeded(endpoint_url, region, name):
        raise UsageError(
            f"the sandbox at {endpoint_url} already holds environment {name!r} "
            f"(restart `shipline sim`, or `curl -X POST {endpoint_url}/moto-api/reset`)"
        )
    environment = seed_environment(endpoint_url, region=region, name=name)
    next_images = {key: environment.image(key, NEXT_TAG) for key in IMAGE_VARIABLES}
    config_path.write_text(config_text(environment), encoding="utf-8")
    return SeededSandbox(environment, config_path, next_images)
