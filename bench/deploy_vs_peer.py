"""shipline against fabfuel's `ecs-deploy` on one sandbox: wall time and AWS API calls.

One `shipline sim` sandbox, the seeded environment (api, web, billing-worker, a migration), every
service converging in CONVERGE_SECONDS. Each round deploys new api and web images (the worker
runs the api image) with shipline, then with the peer as its users drive it: `ecs run` for the
migration, then one `ecs deploy` per service, one after another. Runs alternate. Prints wall
time (median, min, max), API calls by operation from `/_sim/calls`, the ratios and the physical
limit; then shipline alone for 1, 3, 10 and 30 services; then where the peer is unsafe.

Run: `make bench` (creates .venv-bench with `ecs-deploy==1.17.0`, never in .venv), or
`.venv/bin/python bench/deploy_vs_peer.py --peer .venv-bench/bin/ecs [--rounds N]`.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests
import yaml

CONVERGE_SECONDS = 2.0
RUN_SECONDS = 0.5  # the migration task's run time
POLL_SECONDS = 0.5  # shipline's poll and health interval
PEER_SLEEP_SECONDS = 1  # ecs-deploy's --sleep-time (whole seconds; 1 is its default)
HEALTH_SUCCESSES = 2
SCALES = (1, 3, 10, 30)
POLICY = {
    "services": {"*": {"converge_seconds": CONVERGE_SECONDS}},
    "tasks": {"*": {"run_seconds": RUN_SECONDS, "logs": ["migrated 3 tables"]}},
}


class Sandbox:
    def __init__(self, workdir: Path) -> None:
        self.policy_path = workdir / "policy.json"
        self.write_policy(POLICY)
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "shipline.sim",
                "--port",
                "0",
                "--policy",
                str(self.policy_path),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().decode().strip()
        if not self.url.startswith("http"):
            self.process.terminate()
            raise SystemExit(f"shipline sim did not start (first line: {self.url!r})")

    def write_policy(self, document: dict[str, Any]) -> None:
        temporary = self.policy_path.with_suffix(".tmp")
        temporary.write_text(json.dumps(document), encoding="utf-8")
        temporary.replace(self.policy_path)

    def calls(self) -> dict[str, int]:
        return dict(requests.get(f"{self.url}/_sim/calls", timeout=10).json())

    def reset_calls(self) -> None:
        requests.post(f"{self.url}/_sim/calls/reset", timeout=10).raise_for_status()

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def write_config(environment: Any, workdir: Path, extra: dict[str, str] | None = None) -> Path:
    document = environment.shipline_config()
    settings = document["environments"]["sim"]
    settings["wait"] = {"timeout": 120, "poll": POLL_SECONDS}
    settings["health"] = {
        "timeout": 30,
        "interval": POLL_SECONDS,
        "successes": HEALTH_SUCCESSES,
        "request_timeout": 2,
    }
    for key, service in (extra or {}).items():
        settings["services"][key] = {"service": service, "container": "web", "image": "web"}
    path = workdir / "shipline.yml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


def shipline(argv: list[str]) -> int:
    """`shipline ARGV` in this process, its progress lines kept off the table (shown on a
    failure)."""
    from shipline.cli import main

    progress = io.StringIO()
    with contextlib.redirect_stderr(progress):
        code = main(argv)
    if code != 0:
        print("  shipline said: " + " | ".join(progress.getvalue().strip().splitlines()[-2:]))
    return code


def shipline_deploy(config: Path, environment: Any, tag: str) -> tuple[float, int]:
    argv = ["deploy", "--config", str(config), "-e", "sim"]
    argv += ["--image", f"api={environment.reference('api', tag)}"]
    argv += ["--image", f"web={environment.reference('web', tag)}"]
    started = time.monotonic()
    code = shipline(argv)
    return time.monotonic() - started, code


def peer_deploy(peer: str, environment: Any, tag: str, env: dict[str, str]) -> tuple[float, int]:
    """`ecs run` for the migration, then `ecs deploy` per service: as its users script it."""
    from shipline.sim.seed import MIGRATE_COMMAND

    cluster = environment.cluster
    steps = [
        [
            peer, "run", cluster, environment.families["api"],
            "-c", "api", " ".join(MIGRATE_COMMAND),
            "--launchtype", "FARGATE",
            "--subnet", environment.subnet_ids[0],
            "--securitygroup", environment.security_group_id,
        ]
    ]  # fmt: skip
    for key in ("api", "web", "worker"):
        image = environment.reference("web" if key == "web" else "api", tag)
        steps.append(
            [
                peer, "deploy", cluster, environment.services[key],
                "-i", environment.containers[key], image,
                "--timeout", "120", "--sleep-time", str(PEER_SLEEP_SECONDS),
                "--no-deregister",
            ]
        )  # fmt: skip
    started = time.monotonic()
    code = 0
    for step in steps:
        done = subprocess.run(step, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            code = done.returncode
            print(f"  peer step failed ({done.returncode}): {' '.join(step[1:4])}: "
                  f"{(done.stderr or done.stdout).strip().splitlines()[-1:]}")  # fmt: skip
            break  # as a script with `set -e` would
    return time.monotonic() - started, code


def summary(seconds: list[float]) -> str:
    return (
        f"median {statistics.median(seconds):6.2f} s  "
        f"min {min(seconds):6.2f} s  max {max(seconds):6.2f} s"
    )


def add_services(environment: Any, first: int, count: int) -> dict[str, str]:
    """`count` more services like web (web<first>, ...) for the scaling table; key -> name."""
    from shipline.sim.seed import _client, wait_until_converged

    ecs = _client(environment.endpoint_url, environment.region, "ecs")
    web = ecs.describe_services(cluster=environment.cluster, services=[environment.services["web"]])
    model = web["services"][0]
    extra = {}
    for index in range(first, first + count):
        name = f"{environment.services['web']}-{index}"
        ecs.create_service(
            cluster=environment.cluster,
            serviceName=name,
            taskDefinition=model["taskDefinition"],
            desiredCount=1,
            launchType="FARGATE",
            networkConfiguration=model["networkConfiguration"],
            deploymentConfiguration=model["deploymentConfiguration"],
        )
        extra[f"web{index}"] = name
    wait_until_converged(ecs, environment.cluster, list(extra.values()), timeout=120)
    return extra


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peer", default=".venv-bench/bin/ecs", help="the peer's `ecs` command")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each tool (default 3)")
    args = parser.parse_args(argv)
    if not Path(args.peer).exists():
        raise SystemExit(f"{args.peer} not found: run `make bench` (it creates .venv-bench)")
    with tempfile.TemporaryDirectory(prefix="shipline-bench-") as name:
        workdir = Path(name)
        sandbox = Sandbox(workdir)
        try:
            return run(sandbox, workdir, args)
        finally:
            sandbox.stop()


def run(sandbox: Sandbox, workdir: Path, args: argparse.Namespace) -> int:
    aws = {
        "AWS_ENDPOINT_URL": sandbox.url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    os.environ.update(aws)
    peer_env = {**os.environ, **aws}
    from shipline.sim.seed import seed_environment

    environment = seed_environment(sandbox.url)
    config = write_config(environment, workdir)
    warm = ["deploy", "--config", str(config), "-e", "sim", "--dry-run"]
    if shipline([*warm, "--image", f"api={environment.image('api', 'v1')}"]) != 0:
        raise SystemExit("the warm-up dry run failed")

    times: dict[str, list[float]] = {"shipline": [], "ecs-deploy": []}
    calls: dict[str, list[dict[str, int]]] = {"shipline": [], "ecs-deploy": []}
    failures: dict[str, int] = {"shipline": 0, "ecs-deploy": 0}
    for round_number in range(args.rounds):
        for tool in ("shipline", "ecs-deploy"):
            tag = f"r{round_number}{'s' if tool == 'shipline' else 'p'}"
            for key in ("api", "web"):
                environment.image(key, tag)  # pushed first, as a build would: not counted
            sandbox.reset_calls()
            if tool == "shipline":
                seconds, code = shipline_deploy(config, environment, tag)
            else:
                seconds, code = peer_deploy(args.peer, environment, tag, peer_env)
            times[tool].append(seconds)
            calls[tool].append(sandbox.calls())
            failures[tool] += code != 0
            print(f"round {round_number + 1} {tool:<10} {seconds:6.2f} s  exit {code}", flush=True)

    # The first health check can pass at once; each further success is one interval later.
    limit = RUN_SECONDS + CONVERGE_SECONDS + (HEALTH_SUCCESSES - 1) * POLL_SECONDS
    print()
    print(
        f"api + web + worker with a migration; converge_seconds {CONVERGE_SECONDS:g}, migration "
        f"{RUN_SECONDS:g} s; shipline poll {POLL_SECONDS:g} s, ecs-deploy --sleep-time "
        f"{PEER_SLEEP_SECONDS}; {args.rounds} runs each"
    )
    print(
        f"physical limit: migration {RUN_SECONDS:g} s + slowest convergence "
        f"{CONVERGE_SECONDS:g} s + {HEALTH_SUCCESSES} health successes in a row "
        f"({HEALTH_SUCCESSES - 1} x {POLL_SECONDS:g} s after the first) = {limit:.2f} s"
    )
    for tool in times:
        print(f"  {tool:<10} wall {summary(times[tool])}  failed runs {failures[tool]}")
    ratio = statistics.median(times["shipline"]) / statistics.median(times["ecs-deploy"])
    print(f"  shipline / ecs-deploy wall time (medians): {ratio:.2f}")
    print(
        f"  shipline median above the limit: "
        f"{statistics.median(times['shipline']) - limit:+.2f} s (one poll is {POLL_SECONDS:g} s)"
    )

    print()
    print("API calls per run (median by operation)")
    operations = sorted({op for tool in calls for run in calls[tool] for op in run})
    print(f"  {'operation':<36} {'shipline':>9} {'ecs-deploy':>11}")
    totals = {}
    for tool in calls:
        totals[tool] = statistics.median(sum(run.values()) for run in calls[tool])
    for op in operations:
        values = [statistics.median(run.get(op, 0) for run in calls[tool]) for tool in calls]
        print(f"  {op:<36} {values[0]:>9g} {values[1]:>11g}")
    ecs_totals = {
        tool: statistics.median(
            sum(n for op, n in run.items() if op.startswith("ecs.")) for run in calls[tool]
        )
        for tool in calls
    }
    print(f"  {'all':<36} {totals['shipline']:>9g} {totals['ecs-deploy']:>11g}")
    print(f"  {'ECS only':<36} {ecs_totals['shipline']:>9g} {ecs_totals['ecs-deploy']:>11g}")
    print(
        f"  shipline / ecs-deploy API calls: all {totals['shipline'] / totals['ecs-deploy']:.2f}, "
        f"ECS only {ecs_totals['shipline'] / ecs_totals['ecs-deploy']:.2f} (shipline's other "
        "calls are its release record, lock and secret checks, which the peer does not have)"
    )

    print()
    print("shipline alone by number of services (web image moved on all but api/worker)")
    print(
        f"  {'services':>8} {'wall':>8} {'DescribeServices':>17} {'batches':>8} {'per batch':>10}"
    )
    added: dict[str, str] = {}
    for count in SCALES:
        # web plus count - 1 copies move; api and worker stay (so no migration either).
        wanted = count - 1
        if wanted > len(added):
            added.update(add_services(environment, len(added) + 2, wanted - len(added)))
        scale_config = write_config(environment, workdir, dict(list(added.items())[:wanted]))
        image = environment.image("web", f"s{count}")  # pushed first: not counted
        sandbox.reset_calls()
        argv = ["deploy", "--config", str(scale_config), "-e", "sim", "--no-migrate"]
        argv += ["--image", f"web={image}"]
        started = time.monotonic()
        code = shipline(argv)
        seconds = time.monotonic() - started
        describe = sandbox.calls().get("ecs.DescribeServices", 0)
        batches = math.ceil(count / 10)
        print(
            f"  {count:>8} {seconds:>7.2f}s {describe:>17} {batches:>8} "
            f"{describe / batches:>10.1f}  exit {code}"
        )
    print(
        "  (DescribeServices per batch of up to 10 services is the number of polls plus the "
        "preflight: it does not grow with the services)"
    )

    print()
    print("where the peer is unsafe (see docs/performance.md):")
    peer_failing_migration(args.peer, environment, peer_env, sandbox)
    worker_fails(args.peer, environment, peer_env, sandbox, config)
    peer_circuit_breaker(args.peer, environment, peer_env, sandbox)
    return 0 if failures["shipline"] == 0 else 1


def worker_fails(
    peer: str, environment: Any, env: dict[str, str], sandbox: Sandbox, config: Path
) -> None:
    """The worker's rollout fails (its circuit breaker rolls it back): where each tool leaves
    api, web and worker, and what it exits with."""
    from shipline.sim.seed import _client

    ecs = _client(environment.endpoint_url, environment.region, "ecs")
    names = [environment.services[key] for key in ("api", "web", "worker")]

    def revisions() -> str:
        described = ecs.describe_services(cluster=environment.cluster, services=names)
        by_name = {
            s["serviceName"]: s["taskDefinition"].rsplit(":", 1)[1] for s in described["services"]
        }
        return ", ".join(
            f"{key} :{by_name[environment.services[key]]}" for key in ("api", "web", "worker")
        )

    worker = environment.services["worker"]
    sandbox.write_policy({**POLICY, "services": {**POLICY["services"], worker: {"fail": True}}})
    for tool in ("ecs-deploy", "shipline"):
        tag = f"wf-{tool}"
        for key in ("api", "web"):
            environment.image(key, tag)
        before = revisions()
        if tool == "shipline":
            _, code = shipline_deploy(config, environment, tag)
        else:
            _, code = peer_deploy(peer, environment, tag, env)
        print(
            f"  - the worker's rollout fails: {tool} exit {code}; services before: {before}; "
            f"after: {revisions()}"
        )
    sandbox.write_policy(POLICY)


def peer_failing_migration(
    peer: str, environment: Any, env: dict[str, str], sandbox: Sandbox
) -> None:
    """A migration that exits 1: what `ecs run` exits with."""
    from shipline.sim.seed import MIGRATE_COMMAND, _client

    sandbox.write_policy({**POLICY, "tasks": {"*": {"run_seconds": RUN_SECONDS, "exit_code": 1}}})
    step = [
        peer, "run", environment.cluster, environment.families["api"],
        "-c", "api", " ".join(MIGRATE_COMMAND), "--launchtype", "FARGATE",
        "--subnet", environment.subnet_ids[0], "--securitygroup", environment.security_group_id,
    ]  # fmt: skip
    done = subprocess.run(step, env=env, capture_output=True, text=True, check=False)
    ecs = _client(environment.endpoint_url, environment.region, "ecs")
    time.sleep(RUN_SECONDS + 0.5)  # until the sandbox has stopped the task
    arns = ecs.list_tasks(cluster=environment.cluster, desiredStatus="STOPPED")["taskArns"]
    tasks = ecs.describe_tasks(cluster=environment.cluster, tasks=arns)["tasks"] if arns else []
    last = max(tasks, key=lambda task: task["createdAt"])
    codes = [c.get("exitCode") for c in last["containers"]]
    print(
        f"  - a migration whose task exits 1: `ecs run` exit {done.returncode} (it starts the "
        f"task and returns at once; the task's container exit codes: {codes})"
    )
    sandbox.write_policy(POLICY)


def peer_circuit_breaker(
    peer: str, environment: Any, env: dict[str, str], sandbox: Sandbox
) -> None:
    """A rollout ECS's circuit breaker fails and rolls back: what the peer exits with."""
    sandbox.write_policy(
        {"services": {"*": {"converge_seconds": CONVERGE_SECONDS, "fail": "web:broken"}}}
    )
    step = [
        peer, "deploy", environment.cluster, environment.services["web"],
        "-i", environment.containers["web"], environment.reference("web", "broken"),
        "--timeout", "60", "--sleep-time", "1", "--no-deregister",
    ]  # fmt: skip
    from shipline.sim.seed import _client

    ecs = _client(environment.endpoint_url, environment.region, "ecs")
    service = environment.services["web"]

    def running() -> str:
        described = ecs.describe_services(cluster=environment.cluster, services=[service])
        return str(described["services"][0]["taskDefinition"]).rsplit("/", 1)[-1]

    before = running()
    done = subprocess.run(step, env=env, capture_output=True, text=True, check=False)
    revisions = ecs.list_task_definitions(familyPrefix=environment.families["web"])
    latest = max(revisions["taskDefinitionArns"], key=lambda arn: int(arn.rsplit(":", 1)[1]))
    latest = latest.rsplit("/", 1)[-1]
    print(
        f"  - a rollout ECS's circuit breaker failed and rolled back: `ecs deploy` exit "
        f"{done.returncode}; it registered {latest}, web ran {before} before and {running()} "
        "after"
    )
    for line in (done.stdout + done.stderr).strip().splitlines()[-3:]:
        print(f"      ecs-deploy said: {line.strip()[:100]}")
    sandbox.write_policy(POLICY)


if __name__ == "__main__":
    sys.exit(main())
