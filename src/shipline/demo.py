"""The demo's release story against a sandbox embedded in this process (`shipline demo`).

No AWS account and no Docker: the sandbox (moto + ECS behaviour) runs on a free loopback port,
is seeded with the API, web and billing-worker services, and the story runs the release flows
(the ones `shipline deploy`, `rollback` and `history` run) against it over HTTP. What each step
ends with is shown by the `Narrator` the command passes in, as those commands show it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from shipline.aws import short_name
from shipline.console import end, info
from shipline.errors import ShiplineError

if TYPE_CHECKING:
    from shipline.config import Environment
    from shipline.release.deploy import DeployResult
    from shipline.release.records import ReleaseRecord
    from shipline.release.rollback import RollbackResult
    from shipline.release.store import History
    from shipline.sim.embedded import EmbeddedSandbox
    from shipline.sim.seed import SeededEnvironment

MIGRATION_LOGS = ["applying 3 migrations", "migrated 3 tables", "release db: done"]
DEMO_POLICY: dict[str, Any] = {
    "services": {"*": {"converge_seconds": 0.3}},
    "tasks": {"*": {"exit_code": 0, "run_seconds": 0.3, "logs": MIGRATION_LOGS}},
}
MIGRATION_FAILS: dict[str, Any] = {
    "exit_code": 1,
    "logs": ["applying 3 migrations", "ERROR: column users.plan already exists"],
    "reason": "Essential container in task exited",
}
WAIT_TIMEOUT = 15.0
ENVIRONMENT = "sim"


class DemoError(ShiplineError):
    """The sandbox did not behave as the story expects."""


class Narrator(Protocol):
    """Shows how each step ended, as the command that runs the same flow shows it."""

    def deployed(self, result: DeployResult, environment: Environment) -> None: ...

    def rolled_back(self, outcome: RollbackResult) -> None: ...

    def listed(
        self, environment: Environment, history: History, records: list[ReleaseRecord]
    ) -> None: ...


def tell(narrator: Narrator) -> dict[str, Any]:
    """Start and seed the sandbox, tell the story; the summary (for --json) when all went as
    expected, else DemoError."""
    from shipline.sim.embedded import embedded_environment

    started = time.monotonic()
    info("demo: starting the AWS sandbox in this process and seeding an environment")
    with embedded_environment(DEMO_POLICY) as embedded:
        info(f"demo: sandbox at {embedded.sandbox.url}")
        summary = story(embedded, narrator)
    summary["seconds"] = round(time.monotonic() - started, 1)
    end(f"demo: done in {summary['seconds']}s")
    return summary


def story(embedded: EmbeddedSandbox, narrator: Narrator) -> dict[str, Any]:
    """A release's life with shipline; raises DemoError when an outcome is not the expected one.

    Each chapter runs a release flow against the sandbox and then checks what the environment
    and the release history say.
    """
    import tempfile

    from shipline import aws

    environment = embedded.environment
    ecs = aws.client("ecs")
    summary: dict[str, Any] = {"cluster": environment.cluster, "chapters": []}
    show_services(ecs, environment)
    with tempfile.TemporaryDirectory(prefix="shipline-demo-") as workdir:
        config = write_demo_config(Path(workdir), environment)
        chapter = Chapter(embedded, config, summary, narrator)

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
        chapter.rollback(expect_code=0)
        latest = chapter.latest()
        expect(latest.kind == "rollback" and latest.status == "succeeded", "rollback not recorded")
        expect(chapter.running() == good, "the rollback did not return to v2")
        summary["chapters"].append({"rollback": latest.status, "to": latest.rolled_back_to})

        chapter.title("7. the release history")
        chapter.history()
    calls = http_json(f"{environment.endpoint_url}/_sim/calls")
    info("demo: AWS API calls made: " + ", ".join(f"{k} {v}" for k, v in sorted(calls.items())))
    summary["calls"] = calls
    return summary


def write_demo_config(workdir: Path, environment: SeededEnvironment) -> Path:
    """shipline.yml for the seeded environment; short health timeouts keep failures quick."""
    import yaml

    document = environment.shipline_config(ENVIRONMENT)
    settings = document["environments"][ENVIRONMENT]
    settings["health"] = {"timeout": 1.0, "interval": 0.1, "successes": 2, "request_timeout": 1}
    settings["wait"] = {"timeout": WAIT_TIMEOUT, "poll": 0.2}
    path = workdir / "shipline.yml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


class Chapter:
    """Runs the story's release flows in this process and checks their outcome.

    The flows are called here only, each as its command calls it (`deploy`, `rollback`,
    `history`), with the command line it stands for shown first.
    """

    def __init__(
        self,
        embedded: EmbeddedSandbox,
        config: Path,
        summary: dict[str, Any],
        narrator: Narrator,
    ) -> None:
        from shipline.config import load_config
        from shipline.release.store import History

        self.embedded = embedded
        self.environment = embedded.environment
        self.config = str(config)
        self.releases = History(load_config(config).environment(ENVIRONMENT))
        self.summary = summary
        self.narrator = narrator

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

    def deploy(self, tag: str, *, expect_code: int, expect_status: str) -> None:
        from shipline.config import load_environment
        from shipline.release.deploy import Deploy, DeployRequest
        from shipline.release.stopping import StopSignal

        images = {key: self.environment.image(key, tag) for key in ("api", "web")}
        self.show_command("deploy", *(f"--image {key}={ref}" for key, ref in images.items()))
        environment = load_environment(self.config, ENVIRONMENT)
        request = DeployRequest(environment=environment, images=images, task_definitions={})
        stop = StopSignal()
        with stop.catching():
            result = Deploy(request, stop=stop).run()
        self.narrator.deployed(result, environment)
        expect_exit("deploy", result.exit_code, expect_code)
        record = self.latest()
        expect(
            record.kind == "deploy" and record.status == expect_status,
            f"the {tag} deploy was recorded {record.status}, not {expect_status}",
        )
        info(f"demo: => exit code {expect_code}, release {record.release_id} {record.status}")
        self.summary["chapters"].append({"deploy": tag, "status": record.status})

    def rollback(self, *, expect_code: int) -> None:
        from shipline.config import load_environment
        from shipline.release.rollback import roll_back
        from shipline.release.session import LockPolicy
        from shipline.release.stopping import StopSignal

        self.show_command("rollback")
        environment = load_environment(self.config, ENVIRONMENT)
        stop = StopSignal()
        with stop.catching():
            outcome = roll_back(environment, None, stop, LockPolicy())
        self.narrator.rolled_back(outcome)
        expect_exit("rollback", outcome.exit_code, expect_code)

    def history(self) -> None:
        from shipline.config import USES_HISTORY, load_environment
        from shipline.release.store import History

        self.show_command("history")
        environment = load_environment(self.config, ENVIRONMENT, uses=USES_HISTORY)
        history = History(environment)
        self.narrator.listed(environment, history, history.list())

    def show_command(self, *words: str) -> None:
        info(f"demo: $ shipline {' '.join(words)} -e {ENVIRONMENT}")

    def latest(self) -> ReleaseRecord:
        return self.releases.list(limit=1)[0]

    def running(self) -> dict[str, str]:
        from shipline import aws

        names = list(self.environment.services.values())
        described = aws.client("ecs").describe_services(
            cluster=self.environment.cluster, services=names
        )["services"]
        return {s["serviceName"]: s["taskDefinition"] for s in described}


def show_services(ecs: Any, environment: SeededEnvironment) -> None:
    services = ecs.describe_services(
        cluster=environment.cluster, services=list(environment.services.values())
    )["services"]
    for service in services:
        expect(service["runningCount"] == service["desiredCount"], "a service did not converge")
    running = ", ".join(
        f"{short_name(service['taskDefinition'])} ({service['runningCount']}/"
        f"{service['desiredCount']})"
        for service in services
    )
    info(f"demo: cluster {environment.cluster} runs {running}")


def http_json(url: str) -> dict[str, Any]:
    import requests

    return dict(requests.get(url, timeout=5).json())


def expect_exit(command: str, code: int, expected: int) -> None:
    expect(code == expected, f"shipline {command} exited {code}, not {expected}")


def expect(condition: bool, problem: str) -> None:
    if not condition:
        raise DemoError(f"demo: unexpected: {problem}")
