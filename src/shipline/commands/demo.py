"""`shipline demo`: a release story against a sandbox embedded in this process.

No AWS account and no Docker: the sandbox (moto + ECS behaviour) runs on a free loopback port,
is seeded with the API, web and billing-worker services, and the story runs against it over
HTTP. `story()` is the part that shows shipline at work; everything around it stays.
"""

from __future__ import annotations

import argparse
import time
from typing import TYPE_CHECKING, Any

from shipline.console import emit_json, info
from shipline.errors import EXIT_OK, ShiplineError

if TYPE_CHECKING:
    from shipline.sim.embedded import EmbeddedSandbox

HELP = "run a release story against an embedded AWS sandbox (no AWS account needed)"

MIGRATION_LOGS = ["applying 3 migrations", "migrated 3 tables", "release db: done"]
DEMO_POLICY: dict[str, Any] = {
    "services": {"*": {"converge_seconds": 0.5}},
    "tasks": {"*": {"exit_code": 0, "run_seconds": 0.5, "logs": MIGRATION_LOGS}},
}
WAIT_TIMEOUT = 15.0


class DemoError(ShiplineError):
    """The sandbox did not behave as the story expects."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No options of its own: --json prints the story's summary."""


def run(args: argparse.Namespace) -> int:
    from shipline.sim.embedded import embedded_environment

    started = time.monotonic()
    info("demo: starting the AWS sandbox in this process and seeding an environment")
    with embedded_environment(DEMO_POLICY) as embedded:
        info(f"demo: sandbox at {embedded.sandbox.url}")
        summary = story(embedded)
    summary["seconds"] = round(time.monotonic() - started, 1)
    info(f"demo: done in {summary['seconds']}s")
    if args.json:
        emit_json(summary)
    return EXIT_OK


def story(embedded: EmbeddedSandbox) -> dict[str, Any]:
    """A release's life with shipline; raises DemoError when an outcome is not the expected one.

    Each chapter runs the real commands (`shipline deploy`, `rollback`, `history`) against the
    sandbox and then checks what the environment and the release history say.
    """
    import tempfile
    from pathlib import Path

    from shipline import aws

    environment = embedded.environment
    ecs = aws.client("ecs")
    summary: dict[str, Any] = {"cluster": environment.cluster, "chapters": []}
    show_services(ecs, environment)
    with tempfile.TemporaryDirectory(prefix="shipline-demo-") as workdir:
        config = write_demo_config(Path(workdir), environment)
        chapter = Chapter(embedded, config, summary)

        chapter.title("1. a first deploy: api, web and the worker move to v2 together")
        chapter.deploy("v2", expect_code=0, expect_status="succeeded")
        good = chapter.running()
        expect(all(arn.endswith(":2") for arn in good.values()), f"services run {good}")

        chapter.title("2. a deploy whose migration fails: no service is touched")
        chapter.policy(tasks={environment.families["api"]: MIGRATION_FAILS})
        chapter.deploy("v3", expect_code=1, expect_status="failed")
        expect(chapter.running() == good, "a service moved although the migration failed")

        chapter.title("3. a deploy whose web image is unhealthy: api, web and worker roll back")
        chapter.policy(services={"unhealthy": "web:v4"})
        chapter.deploy("v4", expect_code=1, expect_status="rolled_back")
        expect(chapter.running() == good, "the services are not back on v2")

        chapter.title("4. a deploy the circuit breaker fails: reported as a failure, rolled back")
        chapter.policy(services={"fail": "web:v5"})
        chapter.deploy("v5", expect_code=1, expect_status="rolled_back")
        expect(chapter.running() == good, "the services are not back on v2")

        chapter.title("5. a good deploy: v6")
        chapter.policy()
        chapter.deploy("v6", expect_code=0, expect_status="succeeded")
        expect(chapter.running() != good, "v6 did not move the services")

        chapter.title("6. a manual rollback: back to the last good release before v6 (v2)")
        chapter.command("rollback", expect_code=0)
        latest = chapter.latest()
        expect(latest.kind == "rollback" and latest.status == "succeeded", "rollback not recorded")
        expect(chapter.running() == good, "the rollback did not return to v2")
        summary["chapters"].append({"rollback": latest.status, "to": latest.rolled_back_to})

        chapter.title("7. the release history")
        chapter.command("history", expect_code=0)
    calls = http_json(f"{environment.endpoint_url}/_sim/calls")
    info("demo: AWS API calls made: " + ", ".join(f"{k} {v}" for k, v in sorted(calls.items())))
    summary["calls"] = calls
    return summary


MIGRATION_FAILS: dict[str, Any] = {
    "exit_code": 1,
    "logs": ["applying 3 migrations", "ERROR: column users.plan already exists"],
    "reason": "Essential container in task exited",
}


def write_demo_config(workdir: Any, environment: Any) -> Any:
    """shipline.yml for the seeded environment; short health timeouts keep failures quick."""
    import yaml

    document = environment.shipline_config("sim")
    settings = document["environments"]["sim"]
    settings["health"] = {"timeout": 2.0, "interval": 0.1, "successes": 2, "request_timeout": 1}
    settings["wait"] = {"timeout": WAIT_TIMEOUT, "poll": 0.2}
    path = workdir / "shipline.yml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


class Chapter:
    """Runs the story's commands in this process and checks their outcome."""

    def __init__(self, embedded: EmbeddedSandbox, config: Any, summary: dict[str, Any]) -> None:
        from shipline.config import load_config
        from shipline.release.history import History

        self.embedded = embedded
        self.environment = embedded.environment
        self.config = str(config)
        self.history = History(load_config(config).environment("sim"))
        self.summary = summary

    def title(self, text: str) -> None:
        info("")
        info(f"demo: ---- {text}")

    def policy(
        self, services: dict[str, Any] | None = None, tasks: dict[str, Any] | None = None
    ) -> None:
        self.embedded.set_policy(
            {
                "services": {"*": {**DEMO_POLICY["services"]["*"], **(services or {})}},
                "tasks": {**DEMO_POLICY["tasks"], **(tasks or {})},
            }
        )

    def command(self, *argv: str, expect_code: int) -> int:
        import contextlib
        import sys

        from shipline.cli import main

        info(f"demo: $ shipline {' '.join(argv)} -e sim")
        # What the commands print for people joins the story on stderr; stdout stays for --json.
        with contextlib.redirect_stdout(sys.stderr):
            code = main([*argv, "--config", self.config, "-e", "sim"])
        expect(code == expect_code, f"shipline {argv[0]} exited {code}, not {expect_code}")
        return code

    def deploy(self, tag: str, *, expect_code: int, expect_status: str) -> None:
        images = [
            arg
            for key in ("api", "web")
            for arg in ("--image", f"{key}={self.environment.image(key, tag)}")
        ]
        self.command("deploy", *images, expect_code=expect_code)
        record = self.latest()
        expect(
            record.kind == "deploy" and record.status == expect_status,
            f"the {tag} deploy was recorded {record.status}, not {expect_status}",
        )
        info(f"demo: => exit code {expect_code}, release {record.release_id} {record.status}")
        self.summary["chapters"].append({"deploy": tag, "status": record.status})

    def latest(self) -> Any:
        return self.history.list(limit=1)[0]

    def running(self) -> dict[str, str]:
        from shipline import aws

        names = list(self.environment.services.values())
        described = aws.client("ecs").describe_services(
            cluster=self.environment.cluster, services=names
        )["services"]
        return {s["serviceName"]: s["taskDefinition"] for s in described}


def show_services(ecs: Any, environment: Any) -> None:
    info(f"demo: cluster {environment.cluster}")
    services = ecs.describe_services(
        cluster=environment.cluster, services=list(environment.services.values())
    )["services"]
    for service in services:
        revision = service["taskDefinition"].rsplit("/", 1)[-1]
        info(
            f"demo:   {service['serviceName']:<32} {revision:<32} "
            f"{service['runningCount']}/{service['desiredCount']} running"
        )
        expect(service["runningCount"] == service["desiredCount"], "a service did not converge")


def http_json(url: str) -> dict[str, Any]:
    import requests

    return dict(requests.get(url, timeout=5).json())


def expect(condition: bool, problem: str) -> None:
    if not condition:
        raise DemoError(f"demo: unexpected: {problem}")
