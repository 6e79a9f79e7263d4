"""How fast the sandbox is: start-up, seeding, and the latency of common calls.

Starts `shipline sim` as a process (as the test harness does), then prints the time to the
URL line, the seeding time of the api / web / billing-worker environment (first and later
seeds, after `POST /moto-api/reset`), the median and 95th-percentile latency of DescribeServices,
DescribeTasks and the health endpoint, and the time to stop on SIGTERM.
Run: `.venv/bin/python bench/sim_speed.py`.
"""

from __future__ import annotations

import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from shipline.sim.policy import write_policy
from shipline.sim.seed import seed_environment
from support.sim_sandbox import DEFAULT_POLICY, read_first_line, sim_command

SAMPLES = 200


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def latency(name: str, action: Callable[[], object]) -> None:
    samples = sorted(timed(action) for _ in range(SAMPLES))
    p95 = samples[int(len(samples) * 0.95) - 1]
    print(
        f"{name:<28} median {statistics.median(samples) * 1000:6.1f} ms   p95 {p95 * 1000:6.1f} ms"
    )


def main() -> None:
    import boto3

    with tempfile.TemporaryDirectory() as workdir:
        policy = Path(workdir) / "policy.json"
        write_policy(policy, DEFAULT_POLICY)
        started = time.perf_counter()
        process = subprocess.Popen(
            sim_command("--port", "0", "--policy", str(policy)), stdout=subprocess.PIPE
        )
        url = read_first_line(process, 60)
        print(f"{'start (URL printed)':<28} {time.perf_counter() - started:6.2f} s")
        try:
            print(f"{'first seed':<28} {timed(lambda: seed_environment(url)):6.2f} s")
            seeds = []
            for _ in range(3):
                requests.post(f"{url}/moto-api/reset", timeout=30).raise_for_status()
                seeds.append(timed(lambda: seed_environment(url)))
            print(f"{'later seeds (median of 3)':<28} {statistics.median(seeds):6.2f} s")
            environment = seed_environment(url, name="bench")
            ecs = boto3.session.Session(
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
                region_name="us-east-1",
            ).client("ecs", endpoint_url=url)
            names = list(environment.services.values())
            arns = ecs.list_tasks(cluster=environment.cluster)["taskArns"]
            latency(
                "DescribeServices (3)",
                lambda: ecs.describe_services(cluster=environment.cluster, services=names),
            )
            latency(
                f"DescribeTasks ({len(arns)})",
                lambda: ecs.describe_tasks(cluster=environment.cluster, tasks=arns),
            )
            health = environment.health_url("api")
            latency("GET /_sim/health", lambda: requests.get(health, timeout=5))
        finally:
            stopping = time.perf_counter()
            process.send_signal(signal.SIGTERM)
            code = process.wait(timeout=30)
            print(f"{'stop on SIGTERM':<28} {time.perf_counter() - stopping:6.2f} s (exit {code})")


if __name__ == "__main__":
    main()
