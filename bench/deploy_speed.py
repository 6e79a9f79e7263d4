"""How long one deploy takes against the sandbox, and how many AWS API calls it makes.

Starts `shipline sim` (converge_seconds 2, one-off tasks 0.5 s), seeds the api / web /
billing-worker environment, and deploys new api and web images (the worker runs the api image)
with the migration, polling every 0.5 s. Prints the wall time of the deploy and the API calls
counted by the sandbox (`/_sim/calls`). Run: `.venv/bin/python bench/deploy_speed.py`.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from support.sim_sandbox import aws_environment

CONVERGE_SECONDS = 2.0
POLL_SECONDS = 0.5
POLICY = {
    "services": {"*": {"converge_seconds": CONVERGE_SECONDS}},
    "tasks": {"*": {"run_seconds": 0.5, "logs": ["migrated 3 tables"]}},
}


def start_sandbox(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    policy = workdir / "policy.json"
    policy.write_text(json.dumps(POLICY), encoding="utf-8")
    process = subprocess.Popen(
        [sys.executable, "-m", "shipline", "sim", "--port", "0", "--policy", str(policy)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert process.stdout is not None
    url = process.stdout.readline().decode().strip()
    if not url.startswith("http"):
        process.terminate()
        raise SystemExit(f"shipline sim did not start (first line: {url!r})")
    return process, url


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="shipline-bench-") as name:
        workdir = Path(name)
        process, url = start_sandbox(workdir)
        try:
            os.environ.update(aws_environment(url))
            from shipline.cli import main as shipline
            from shipline.sim.seed import seed_environment

            environment = seed_environment(url)
            document = environment.shipline_config()
            settings = document["environments"]["sim"]
            settings["wait"] = {"timeout": 60, "poll": POLL_SECONDS}
            settings["health"] = {
                "timeout": 30,
                "interval": POLL_SECONDS,
                "successes": 2,
                "request_timeout": 2,
            }
            config = workdir / "shipline.yml"
            config.write_text(yaml.safe_dump(document), encoding="utf-8")
            base = ["deploy", "--config", str(config), "-e", "sim"]
            # A dry run first, so moto's lazy start of each AWS service is not in the figure.
            warm = [*base, "--image", f"api={environment.image('api', 'v1')}", "--dry-run"]
            if shipline(warm) != 0:
                raise SystemExit("the warm-up dry run failed")
            requests.post(f"{url}/_sim/calls/reset", timeout=10).raise_for_status()

            images = [
                "--image",
                f"api={environment.image('api', 'v2')}",
                "--image",
                f"web={environment.image('web', 'v2')}",
            ]
            started = time.monotonic()
            code = shipline([*base, *images])
            seconds = time.monotonic() - started
            calls = requests.get(f"{url}/_sim/calls", timeout=10).json()
        finally:
            process.terminate()
            process.wait(timeout=10)
    services = len(environment.services)
    print(f"deploy of api, web and worker with a migration: exit code {code}")
    print(f"converge_seconds {CONVERGE_SECONDS:g}, poll {POLL_SECONDS:g}s")
    print(f"wall time: {seconds:.2f} s")
    print(f"API calls ({sum(calls.values())} in all):")
    for name, count in sorted(calls.items()):
        print(f"  {name:<32} {count}")
    describe = calls.get("ecs.DescribeServices", 0)
    batches = math.ceil(services / 10)
    print(
        f"DescribeServices: {describe} for {services} services "
        f"(one call per poll per {batches} batch(es) of up to 10, plus the preflight and the end)"
    )
    return 0 if code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
