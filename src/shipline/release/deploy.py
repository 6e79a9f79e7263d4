"""One deploy, in order: preflight, lock + record, register, migrate, roll out, verify, record.

Nothing changes before the task definitions are registered (step 3): every check that can
refuse the release runs first, and a refusal is exit 2 with nothing registered or written.
After services have moved, a failure puts EVERY moved service back on the task definition it
ran before (the release is one unit), unless rollback is off. Every path ends by recording
the release's final status and releasing the lock.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

from shipline import aws, console, github
from shipline.aws import short_name
from shipline.config import Environment, Service
from shipline.env import rules as envrules
from shipline.errors import (
    EXIT_DAMAGED,
    EXIT_FAILED,
    EXIT_OK,
    LockedError,
    PreflightError,
    ShiplineError,
)
from shipline.release import plan
from shipline.release.health import HealthCheck, HealthResult, checks_for, verify
from shipline.release.migrate import MigrationResult, launch_settings, run_migration
from shipline.release.phases import PhaseClock
from shipline.release.records import FinalStatus, ReleaseStatus
from shipline.release.rollout import Rolled, Target, Watch, roll
from shipline.release.session import ReleaseSession
from shipline.release.stopping import Interrupted, StopSignal
from shipline.release.store import LockLostError
from shipline.sensitive import mask_text

if TYPE_CHECKING:
    from shipline.release.records import ReleaseRecord
    from shipline.release.store import History

# A deploy's `status` (--json, the step output): its record's, or refused / dry_run (no record).
DeployStatus = Literal[ReleaseStatus, "refused", "dry_run"]


@dataclass(frozen=True)
class DeployRequest:
    environment: Environment
    images: Mapping[str, str]  # image key -> reference
    task_definitions: Mapping[str, str]  # service key -> task definition ARN
    migrate: bool = True
    rollback: bool = True
    dry_run: bool = False
    skip_preflight: frozenset[str] = frozenset()
    # A release session opened by `shipline lock acquire`: adopt its lock and record.
    release_id: str | None = None
    # `shipline promote`: the release of another environment whose images these are.
    promoted_from: Mapping[str, str] | None = None


@dataclass
class ServiceRun:
    """One moved service through the release."""

    key: str
    service: Service
    description: dict[str, Any]  # DescribeServices item, from the preflight
    live: dict[str, Any]  # the running task definition (DescribeTaskDefinition, with tags)
    target: dict[str, Any]  # the task definition to move to, register-ready
    image: str  # the configured container's image after the release
    new_task_definition: str | None = None  # ARN; known after step 3
    registered: dict[str, Any] | None = None  # the new task definition as ECS describes it
    result: str = "not moved"
    seconds: float | None = None  # how long it took to settle (roll out, and roll back)

    @property
    def previous_task_definition(self) -> str:
        return str(self.live["taskDefinitionArn"])

    @property
    def desired_count(self) -> int | None:
        return self.description.get("desiredCount")


@dataclass
class DeployResult:
    release_id: str | None
    status: DeployStatus
    exit_code: int
    error: str | None = None
    services: dict[str, ServiceRun] = field(default_factory=dict)
    migration: MigrationResult | None = None
    migration_skipped: str | None = None  # why no migration ran, when none did
    health: list[HealthResult] = field(default_factory=list)
    rollback: str | None = None  # what the rollback did, when there was one
    record_uri: str | None = None
    record_link: str | None = None
    diff: list[str] = field(default_factory=list)
    final_task_definitions: dict[str, str] = field(default_factory=dict)
    skipped_checks: list[str] = field(default_factory=list)  # --skip-preflight, on purpose
    terraform: dict[str, Any] | None = None  # what Terraform changed within the release
    # Service key -> why the release left it alone (every service of the environment not moved).
    left_alone: dict[str, str] = field(default_factory=dict)
    seconds: float | None = None  # the whole release, from the preflight to its end
    promoted_from: dict[str, str] | None = None  # `shipline promote`: {environment, release_id}

    def to_json(self) -> dict[str, Any]:
        promoted = {"promoted_from": self.promoted_from} if self.promoted_from else {}
        return promoted | {
            "release_id": self.release_id,
            "status": self.status,
            "exit_code": self.exit_code,
            "error": self.error,
            "services": {
                key: {
                    "service": run.service.service,
                    "before": run.previous_task_definition,
                    "after": run.new_task_definition,
                    "image": run.image,
                    "result": run.result,
                }
                for key, run in self.services.items()
            },
            "migrate": self.migrate_record(),
            "health": [result.to_record() for result in self.health],
            "rollback": self.rollback,
            "record": self.record_uri,
            "diff": self.diff,
            "task_definitions": self.final_task_definitions,
            "skipped_checks": self.skipped_checks,
            "terraform": self.terraform,
            "left_alone": self.left_alone,
        }

    def migrate_record(self) -> dict[str, Any] | None:
        """As the record's `migrate`: the task that ran, or why none did."""
        if self.migration is not None:
            return self.migration.to_record()
        return {"skipped": self.migration_skipped} if self.migration_skipped else None


def record_link(environment: Environment, region: str, release_id: str) -> str:
    """The record in the S3 console (a link a person can open from the step summary)."""
    key = f"{environment.history_prefix}{release_id}.json"
    return (
        f"https://s3.console.aws.amazon.com/s3/object/{environment.history_bucket}"
        f"?region={region}&prefix={key}"
    )


class Deploy:
    """Runs one DeployRequest; `run()` returns the result (exit code included)."""

    def __init__(
        self,
        request: DeployRequest,
        *,
        stop: StopSignal | None = None,
        report: Callable[[str], None] = console.info,
    ) -> None:
        self.request = request
        self.environment = request.environment
        self.stop = stop or StopSignal()
        self.report = report
        self.region = aws.resolve_region(self.environment.region)
        self.ecs = aws.client("ecs", self.region)
        self.runs: dict[str, ServiceRun] = {}
        self.descriptions: dict[str, dict[str, Any]] = {}
        self.watch = Watch()
        # The in_progress record of an adopted release (`--release-id`), read in the preflight.
        self.adopted: ReleaseRecord | None = None
        self.adopted_from: History | None = None
        self.session: ReleaseSession | None = None
        self.moving = False
        self.rollback_health = ""
        self.skipped: frozenset[str] = frozenset()
        self.result = DeployResult(None, "refused", EXIT_FAILED)
        self.phases = PhaseClock()  # the record's `phases`
        if request.promoted_from is not None:
            self.result.promoted_from = dict(request.promoted_from)

    # --- the flow --------------------------------------------------------------------------

    def run(self) -> DeployResult:
        started = time.monotonic()
        try:
            return self.run_to_the_end()
        finally:
            self.result.seconds = time.monotonic() - started

    def run_to_the_end(self) -> DeployResult:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            try:
                moves = self.preflight()
            except (BotoCoreError, ClientError) as exc:
                # Nothing has changed yet: an AWS error here is a refusal like any other check.
                raise PreflightError(
                    aws.unusable(exc) or f"preflight could not read AWS: {exc}"
                ) from exc
        except ShiplineError as exc:
            if self.request.release_id is None:
                raise
            return self.refused_in_session(exc)
        if self.request.dry_run:
            return self.dry_run()
        if self.stop.is_set():  # asked to stop during the preflight: nothing was changed
            self.result.status, self.result.error = "interrupted", "interrupted before any change"
            if self.request.release_id is not None:
                return self.refused_in_session(ShiplineError("interrupted before any change"))
            return self.result
        self.session = self.new_session()
        self.phases.attach(self.session.record)
        try:
            with self.session:
                with self.phases.phase("lock and record"):
                    self.started(moves)
                self.execute_to_the_end()
        except LockLostError as exc:  # the session's lock went between preflight and now
            return self.refused_in_session(LockedError(exc.message))
        return self.result

    def execute_to_the_end(self) -> None:
        """`execute`, and whatever stops it ends the release with a final status."""
        try:
            self.execute()
        except LockLostError as exc:
            # Another release holds the environment now: change nothing more, not even back.
            for run in self.runs.values():
                run.result = f"{run.result}; left as it is (lock lost)"
            self.finish(
                "failed",
                EXIT_DAMAGED,
                self.lost_lock_message(exc),
                next_step=f"run `shipline history -e {self.environment.name}` to see the "
                "release that holds the environment now",
            )
        except Interrupted as exc:
            code = EXIT_DAMAGED if self.moving else EXIT_FAILED
            where = "while services were moving" if self.moving else "before any service moved"
            left_behind = f"; {exc.left_behind}" if exc.left_behind else ""
            self.finish("interrupted", code, f"{exc} {where}{left_behind}")
        except Exception as exc:
            # Unexpected (an AWS error mid-release): record it, never leave in_progress behind.
            code = EXIT_DAMAGED if self.moving else EXIT_FAILED
            self.report(f"unexpected error: {type(exc).__name__}: {exc}")
            self.finish("failed", code, f"{type(exc).__name__}: {exc}")

    @property
    def record(self) -> ReleaseRecord:
        assert self.session is not None  # the record exists from the start of the session
        return self.session.record

    def execute(self) -> None:
        skipped = plan.migration_skip_reason(
            self.environment, self.runs, skip=not self.request.migrate
        )
        if skipped is not None:
            self.skip_migration(skipped)
        if not self.runs:
            self.report("nothing to move: every service is left alone")
            self.finish("succeeded", EXIT_OK, None)
            return
        with self.phases.phase("register task definitions"):
            self.register()
        if skipped is None:
            with self.phases.phase("migrate") as step:
                migration = self.migrate()
                if not migration.ok:
                    step.fail()
            if not migration.ok:
                error = f"migration failed (exit code {migration.exit_code}): {migration.reason}"
                for run in self.runs.values():
                    run.result = "not moved (migration failed)"
                self.finish("failed", EXIT_FAILED, error)
                return
        with self.phases.phase("roll out") as step:
            failure = self.roll_out()
            if failure is not None:
                step.fail()
        if failure is None:
            with self.phases.phase("verify") as step:
                failure = self.verify_health(self.health_checks())
                if failure is not None:
                    step.fail()
        if failure is None:
            self.assert_lock()  # a release that lost the environment meanwhile is not live
            for run in self.runs.values():
                run.result = "deployed"
            self.finish("succeeded", EXIT_OK, None)
            return
        self.fail_after_moving(failure)

    # --- step 1 ------------------------------------------------------------------------------

    def preflight(self) -> dict[str, plan.Move]:
        with self.phases.phase("preflight"):
            environment = self.environment
            moves = plan.plan_moves(environment, self.request.images, self.request.task_definitions)
            self.skipped = envrules.validate_skip(self.request.skip_preflight)
            self.result.skipped_checks = sorted(self.skipped)
            for check in self.result.skipped_checks:
                self.report(f"preflight: {check} skipped on purpose (--skip-preflight)")
            if envrules.IMAGE_DIGESTS not in self.skipped:
                moves = self.pin_images(moves)
            self.descriptions = aws.describe_services(
                self.ecs,
                environment.cluster,
                [svc.service for svc in environment.services.values()],
            )
            problems = plan.service_problems(environment.cluster, moves, self.descriptions)
            if problems:
                raise PreflightError("; ".join(problems))
            for key, move in moves.items():
                running = self.descriptions[move.service.service].get("taskDefinition")
                if move.task_definition and move.task_definition == running:
                    # Terraform registered nothing new for it (same content, same revision).
                    self.result.left_alone[key] = "already running that task definition"
                    continue
                self.runs[key] = self.prepare(move)
            for key in environment.services:
                if key not in moves:
                    self.result.left_alone[key] = "no image or task definition given"
            for key, why in self.result.left_alone.items():
                self.report(f"{key}: left alone ({why})")
            # Masks first: nothing printed after this point can show those values.
            mask_task_definition_secrets(
                {
                    f"{key}:{side}": getattr(run, side)
                    for key, run in self.runs.items()
                    for side in ("live", "target")
                }
            )
            self.env_rule_checks()
            self.check_history_and_lock()
            for key, run in self.runs.items():
                if self.request.dry_run:
                    break  # the dry run prints its own diff
                after = run.new_task_definition or f"{run.target['family']}:(new revision)"
                self.report(
                    f"{key}: {short_name(run.previous_task_definition)} -> {short_name(after)}"
                    f" ({mask_text(run.image)})"
                )
            self.result.services = self.runs
            return moves

    def pin_images(self, moves: dict[str, plan.Move]) -> dict[str, plan.Move]:
        """Every --image by digest: it must exist, and the release runs exactly that image."""
        from shipline.images.reference import ImageNotFound
        from shipline.images.resolve import pin_references

        tags = {
            move.service.image: move.image
            for move in moves.values()
            if move.image and "@" not in move.image
        }
        if not tags:
            return moves
        try:
            pinned = pin_references(tags)
        except ImageNotFound as exc:
            # A misspelt tag is the usual cause: point at the check, not at skipping it.
            asked = " ".join(f"{key}={mask_text(ref)}" for key, ref in tags.items())
            raise PreflightError(
                f"{exc.message} (check the tag: `shipline images resolve {asked}`; push the "
                "image if it is missing; skip this check with "
                f"--skip-preflight {envrules.IMAGE_DIGESTS} only if the registry cannot be asked)"
            ) from None
        for key, reference in pinned.items():
            self.report(f"image {key}: {mask_text(reference)}")
        return {
            key: replace(move, image=pinned.get(move.service.image, move.image))
            for key, move in moves.items()
        }

    def prepare(self, move: plan.Move) -> ServiceRun:
        service = move.service
        description = self.descriptions[service.service]
        live = aws.describe_task_definition(self.ecs, description["taskDefinition"], move.key)
        if move.task_definition:
            given = aws.describe_task_definition(self.ecs, move.task_definition, move.key)
            problem = plan.container_problem(given, service.container)
            if problem:
                raise PreflightError(f"--task-definition {move.key}: {problem}")
            if given.get("status") != "ACTIVE":
                raise PreflightError(
                    f"--task-definition {move.key}: {move.task_definition} is "
                    f"{given.get('status')}, not ACTIVE"
                )
            target = plan.render_task_definition(
                given,
                service.container,
                str(plan.image_of(given, service.container)),
                tags=given["tags"],
            )
            run = ServiceRun(
                move.key,
                service,
                description,
                live,
                target,
                image=str(plan.image_of(given, service.container)),
                new_task_definition=move.task_definition,
                registered=given,
            )
            return run
        problem = plan.container_problem(live, service.container)
        if problem:
            raise PreflightError(f"{move.key}: {problem}")
        target = plan.render_task_definition(live, service.container, str(move.image), live["tags"])
        return ServiceRun(move.key, service, description, live, target, image=str(move.image))

    def env_rule_checks(self) -> None:
        """The hosting guide's rules on the task definitions about to run (named, skippable)."""
        from shipline.env.secret_refs import check_named_secrets, check_secret_refs

        skip = self.skipped
        targets = {key: run.target for key, run in self.runs.items()}
        desired = {
            key: (self.descriptions.get(svc.service) or {}).get("desiredCount")
            for key, svc in self.environment.services.items()
        }
        problems = envrules.preflight_problems(
            targets,
            dict(self.environment.services),
            desired,
            skip,
            environment_name=self.environment.name,
        )
        if envrules.SECRET_REFS not in skip:
            problems += check_secret_refs(envrules.secret_refs_of(targets), self.region)
            named = envrules.named_secrets_of(targets, dict(self.environment.services))
            problems += check_named_secrets(named, self.region)
        for problem in problems:
            if not problem.is_error:
                self.report(f"preflight warning: {problem.text()}")
        errors = [problem for problem in problems if problem.is_error]
        if errors:
            hint = " (skip a check on purpose with --skip-preflight CHECK)"
            raise PreflightError(
                f"{len(errors)} preflight problem(s): "
                + "; ".join(f"{p.check}: {p.text()}" for p in errors)
                + hint
            )

    def check_history_and_lock(self) -> None:
        from shipline.release.session import adopt, refuse_if_locked

        if self.request.release_id is None:
            refuse_if_locked(self.environment)
            return
        history, _, self.adopted = adopt(self.environment, self.request.release_id)
        self.adopted_from = history
        self.result.terraform = self.adopted.terraform

    def refused_in_session(self, refusal: ShiplineError) -> DeployResult:
        """A refusal of an adopted release: end its record and free its lock, saying what
        Terraform changed before (see session.exit_code_after_terraform for the exit code)."""
        from shipline.release.session import changed_note, end_session, exit_code_after_terraform
        from shipline.release.store import History

        release_id = str(self.request.release_id)
        self.report(f"refused: {refusal.message}")
        ended = end_session(self.environment, release_id, f"refused: {refusal.message}")
        record = ended.record
        self.result.release_id = release_id
        self.result.status = record.status if record is not None else "refused"
        self.result.exit_code = exit_code_after_terraform(record, refusal.exit_code)
        self.result.error = refusal.message + (changed_note(record) if record else "")
        self.result.terraform = record.terraform if record else None
        if record is not None:
            self.result.record_uri = History(self.environment).uri(release_id)
            self.result.record_link = record_link(self.environment, self.region, release_id)
        for run in self.runs.values():
            run.result = "not moved (refused)"
        self.result.final_task_definitions = self.final_task_definitions(False)
        return self.result

    def dry_run(self) -> DeployResult:
        lines: list[str] = []
        for key, run in self.runs.items():
            after = run.new_task_definition or f"{run.target['family']}:(new revision)"
            lines.append(
                f"{key} ({run.service.service}): {short_name(run.previous_task_definition)}"
                f" -> {short_name(after)}"
            )
            lines += plan.image_diff(run.live, run.target, mask_text) or ["   (no image change)"]
            run.result = "dry run"
        self.result.status = "dry_run"
        self.result.exit_code = EXIT_OK
        self.result.diff = lines
        return self.result

    # --- step 2 ------------------------------------------------------------------------------

    def new_session(self) -> ReleaseSession:
        """A new release's session, or the one `shipline lock acquire` opened (adopted)."""
        from shipline.release.session import new_record

        if self.adopted is not None:
            return ReleaseSession(
                self.environment, self.adopted, adopted=self.adopted_from, report=self.report
            )
        return ReleaseSession(
            self.environment, new_record(self.environment, "deploy"), report=self.report
        )

    def started(self, moves: Mapping[str, plan.Move]) -> None:
        """The session holds the environment: record what the release runs and say so."""
        session = self.session
        assert session is not None
        # What ran, by digest where the preflight pinned it.
        self.record.images = (
            dict(self.record.images)
            | dict(self.request.images)
            | {run.service.image: run.image for run in self.runs.values()}
        )
        self.record.promoted_from = self.result.promoted_from
        session.save()
        release_id = session.release_id
        self.result.release_id = release_id
        self.result.record_uri = session.record_uri
        self.result.record_link = record_link(self.environment, self.region, release_id)
        how = (
            f"continuing with the lock of {self.environment.name} taken before Terraform"
            if session.adopted
            else f"locked {self.environment.name}"
        )
        self.report(f"release {release_id}: {how}, record {self.result.record_uri}")

    # --- step 3 ------------------------------------------------------------------------------

    def register(self) -> None:
        from shipline.release.records import ServiceRecord

        for key, run in self.runs.items():
            self.stop.check()
            if run.new_task_definition is None:
                self.assert_lock()
                answer = self.ecs.register_task_definition(**run.target)
                run.registered = answer["taskDefinition"]
                run.new_task_definition = run.registered["taskDefinitionArn"]
                self.report(f"{key}: registered {short_name(run.new_task_definition)}")
            else:
                self.report(f"{key}: using {short_name(run.new_task_definition)}")
            self.record.services[key] = ServiceRecord(
                service=run.service.service,
                task_definition=run.new_task_definition,
                previous_task_definition=run.previous_task_definition,
                desired_count=run.desired_count,
                task_definition_content=run.target,
            )
        self.save()

    # --- step 4 ------------------------------------------------------------------------------

    def migrate(self) -> MigrationResult:
        from shipline.release.records import MigrateRecord

        settings = self.environment.migrate
        assert settings is not None  # migration_applies checked it
        run = self.runs[settings.service]
        assert run.registered is not None  # registered in step 3
        self.assert_lock()
        result = run_migration(
            self.ecs,
            aws.client("logs", self.region),
            cluster=self.environment.cluster,
            task_definition=run.registered,
            container=settings.container,
            command=settings.command,
            launch=launch_settings(run.description),
            poll=self.environment.wait.poll,
            heartbeat=self.environment.wait.heartbeat,
            timeout=settings.timeout,
            stop=self.stop,
            report=self.report,
        )
        self.result.migration = result
        self.record.migrate = MigrateRecord(**result.to_record())
        if result.ok:
            self.report("migration: exit code 0")
        else:
            self.report(f"migration FAILED: exit code {result.exit_code}; {result.reason}")
            if result.log_tail:
                self.report(f"last {len(result.log_tail)} log lines of the migration:")
                for line in result.log_tail:
                    self.report(f"  | {mask_text(line)}")
        self.save()
        return result

    def skip_migration(self, reason: str) -> None:
        """A release without a migration says so: on the terminal, in the summary and record."""
        from shipline.release.records import MigrateRecord

        self.report(f"migration: skipped ({reason})")
        self.result.migration_skipped = reason
        self.record.migrate = MigrateRecord(skipped=reason)

    # --- step 5 ------------------------------------------------------------------------------

    def roll_out(self) -> str | None:
        """Move every service at once and wait; None on success, else why it failed."""
        self.stop.check()
        self.watch.remember_events(self.descriptions.values())
        targets = [
            Target(key, run.service.service, str(run.new_task_definition))
            for key, run in self.runs.items()
        ]
        self.moving = True
        rolled = self.move(targets, fail_fast=True)
        self.add_seconds(rolled.seconds)
        for key, error in rolled.update_errors.items():
            self.runs[key].result = f"update failed: {error}"
        for key, outcome in rolled.outcomes.items():
            self.runs[key].result = f"rollout {outcome.state}: {outcome.detail}"
        failure = rolled.failure()
        if failure is None or rolled.update_errors:
            return failure
        return f"rollout failed: {failure}"

    def add_seconds(self, seconds: Mapping[str, float]) -> None:
        for key, spent in seconds.items():
            self.runs[key].seconds = (self.runs[key].seconds or 0.0) + spent

    def move(self, targets: list[Target], *, fail_fast: bool) -> Rolled:
        return roll(
            self.ecs,
            self.environment.cluster,
            targets,
            poll=self.environment.wait.poll,
            heartbeat=self.environment.wait.heartbeat,
            timeout=self.environment.wait.timeout,
            watch=self.watch,
            stop=self.stop,
            report=self.report,
            fail_fast=fail_fast,
            before_change=self.assert_lock,
        )

    # --- step 6 ------------------------------------------------------------------------------

    def health_checks(self) -> list[HealthCheck]:
        return checks_for(self.environment.services, self.runs)

    def verify_health(self, checks: list[HealthCheck]) -> str | None:
        self.stop.check()
        if not checks:
            self.report("no health URL configured for the moved services")
            return None
        results = verify(checks, self.environment.health, stop=self.stop, report=self.report)
        self.result.health = results
        self.record_health(results)
        bad = [r for r in results if not r.ok]
        for result in bad:
            self.runs[result.service].result = f"unhealthy: {result.error}"
        if not bad:
            return None
        return "verification failed: " + "; ".join(f"{r.service}: {r.error}" for r in bad)

    def record_health(self, results: list[HealthResult]) -> None:
        from shipline.release.records import health_records

        self.record.health = health_records(results)

    # --- after a failure in 5 or 6 -------------------------------------------------------

    def fail_after_moving(self, failure: str) -> None:
        rollback_on = self.request.rollback and self.environment.rollback == "auto"
        if not rollback_on:
            why = "--no-rollback" if not self.request.rollback else "rollback: off"
            self.result.rollback = f"not attempted ({why})"
            self.finish(
                "failed",
                EXIT_DAMAGED,
                f"{failure}; services left on the new task definitions ({why})",
            )
            return
        with self.phases.phase("roll back") as step:
            rollback_failure = self.roll_back()
            if rollback_failure is not None:
                step.fail()
        if rollback_failure is None:
            self.result.rollback = "every moved service is back on its previous task definition"
            if self.rollback_health:
                self.result.rollback += f" ({self.rollback_health})"
            self.finish("rolled_back", EXIT_FAILED, f"{failure}; rolled back")
        else:
            self.result.rollback = f"FAILED: {rollback_failure}"
            self.finish(
                "rollback_failed", EXIT_DAMAGED, f"{failure}; rollback failed: {rollback_failure}"
            )

    def roll_back(self) -> str | None:
        self.report("rolling back every moved service to its previous task definition")
        targets = [
            Target(key, run.service.service, run.previous_task_definition)
            for key, run in self.runs.items()
        ]
        rolled = self.move(targets, fail_fast=False)
        self.add_seconds(rolled.seconds)
        if rolled.update_errors:
            return rolled.failure()
        for key, outcome in rolled.outcomes.items():
            before = self.runs[key].result
            after = (
                "rolled back"
                if outcome.succeeded
                else f"rollback {outcome.state}: {outcome.detail}"
            )
            self.runs[key].result = f"{before}; {after}"
        failure = rolled.failure()
        if failure is not None:
            return failure
        checks = self.health_checks()
        if not checks:
            return None
        # The record keeps the verification that failed the release; this one is the rollback's.
        results = verify(checks, self.environment.health, stop=self.stop, report=self.report)
        self.rollback_health = ", ".join(
            f"{r.service} {'healthy' if r.ok else 'UNHEALTHY'}" for r in results
        )
        bad = [r for r in results if not r.ok]
        if bad:
            return "after the rollback: " + "; ".join(f"{r.service}: {r.error}" for r in bad)
        return None

    # --- step 7 and every other ending ------------------------------------------------------

    def finish(
        self,
        status: FinalStatus,
        exit_code: int,
        error: str | None,
        *,
        next_step: str | None = None,
    ) -> None:
        """End the release; an exit 3 also names what a person runs next (not in the record)."""
        self.end_release(status, exit_code, error)
        # Only where the deploy left services changed: an exit 3 from Terraform's changes alone
        # (release session) has its services back, and a rollback would walk back further.
        if exit_code != EXIT_DAMAGED or self.result.exit_code != EXIT_DAMAGED:
            return
        if not self.result.error:
            return
        if "shipline history" in self.result.error:  # the record is lost: it says what to do
            return
        step = next_step or (
            f"run `shipline rollback -e {self.environment.name}` to put the services back on "
            "the last good release"
        )
        self.result.error += f"; next: {step}"

    def end_release(self, status: FinalStatus, exit_code: int, error: str | None) -> None:
        from shipline.release.session import exit_code_after_terraform

        self.result.status = status
        self.result.exit_code = exit_code
        self.result.error = error
        self.result.final_task_definitions = self.final_task_definitions(status == "succeeded")
        if self.session is None:
            return
        self.result.exit_code = exit_code_after_terraform(self.record, exit_code)
        try:
            self.session.finish(status, error)
        except Exception as exc:
            self.report(f"the release record could not be written: {type(exc).__name__}: {exc}")
            if self.moving:
                # Services moved and the history does not say where they ended: never exit 1
                # ("as it was"); a person must look before the next release.
                self.result.exit_code = EXIT_DAMAGED
                why = f" ({self.record.error})" if self.record.error else ""
                self.result.error = (
                    f"services moved and the release ended {status}{why}, but that is not "
                    "recorded: "
                    f"{exc}; check the services against `shipline history -e "
                    f"{self.environment.name}` before the next release"
                )
                return
            if self.result.exit_code == EXIT_OK:
                self.result.exit_code = EXIT_FAILED
            self.result.error = f"the release record could not be written: {exc}"
            return
        self.result.error = self.record.error

    def final_task_definitions(self, succeeded: bool) -> dict[str, str]:
        """Service key -> the task definition its primary deployment runs now.

        Known without asking when nothing moved or the release succeeded; after a failure
        only ECS can say where each service ended up.
        """
        described = self.descriptions
        if self.moving and not succeeded:
            names = [svc.service for svc in self.environment.services.values()]
            try:
                described = aws.describe_services(self.ecs, self.environment.cluster, names)
            except Exception:  # an answer for the outputs only; the preflight's view will do
                described = self.descriptions
        final = {
            key: str(described[svc.service].get("taskDefinition"))
            for key, svc in self.environment.services.items()
            if svc.service in described
        }
        if succeeded:
            final |= {key: str(run.new_task_definition) for key, run in self.runs.items()}
        return final

    def assert_lock(self) -> None:
        """Before every change: this release still holds the lock (LockLostError otherwise)."""
        if self.session is not None:
            self.session.assert_held()

    def save(self) -> None:
        assert self.session is not None
        self.session.save()

    def lost_lock_message(self, lost: LockLostError) -> str:
        """Why the release stopped, naming the release that holds the environment now."""
        message = lost.message
        if lost.holder is None and self.session is not None:
            history = self.session.history
            try:
                newer = [i for i in history.release_ids() if i != self.result.release_id]
                if newer:
                    latest = history.get(newer[0])
                    message += f"; the newest release is {latest.release_id} ({latest.status})"
            except Exception:  # the message is best effort; the exit code says enough
                pass
        return f"{message}; services left as they are"


def mask_task_definition_secrets(task_definitions: Mapping[str, Mapping[str, Any]]) -> None:
    """::add-mask:: every secret part of the task definitions' plain values (Actions only)."""
    for task_definition in task_definitions.values():
        for container in task_definition.get("containerDefinitions") or []:
            for item in container.get("environment") or []:
                github.mask_secret(item.get("name"), item.get("value"))
