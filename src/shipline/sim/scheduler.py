"""The ECS behaviour moto lacks: a service scheduler, deployments, one-off task endings.

moto keeps the ECS objects (services, tasks, task definitions); this module changes them the way
ECS would, from hooks on moto's ECS methods (`moto_hooks.py`) and from `advance()`, which the
server calls before every request: time moves lazily, so everything is decided under one lock
and what a client observes is deterministic for a given policy.

Times (converge_seconds, run_seconds) are read from the policy on every request, so changing
them reaches deployments and tasks in progress; outcomes (fail, exit code, logs) are decided
when a deployment or task starts. A rollback starts when a request notices the failure.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from moto.ecs.models import Container, EC2ContainerServiceBackend, Task, ecs_backends
from moto.elbv2.models import elbv2_backends
from moto.logs.models import logs_backends

from shipline.sim import ecs_rules
from shipline.sim.policy import Policy, matches
from shipline.sim.stale_reads import StaleReads

RUNNING = "RUNNING"
PENDING = "PENDING"
STOPPED = "STOPPED"
LIVE_STATES = (RUNNING, PENDING, "PROVISIONING")


def as_datetime(seconds: float) -> datetime:
    """moto's convention: naive datetimes in UTC."""
    return datetime.fromtimestamp(seconds, UTC).replace(tzinfo=None)


@dataclass
class Deployment:
    id: str
    task_definition: str
    desired_count: int
    created_at: float
    updated_at: float
    fails: bool
    status: str = "PRIMARY"
    rollout_state: str = "IN_PROGRESS"
    rollout_state_reason: str = ""
    task_arns: list[str] = field(default_factory=list)
    failed_tasks: int = 0
    held: bool = False  # its settling failed once: it is left as it is


@dataclass
class TrackedService:
    account_id: str
    region: str
    cluster: str
    name: str
    deployments: list[Deployment] = field(default_factory=list)  # PRIMARY first
    events: list[dict[str, Any]] = field(default_factory=list)  # newest first


@dataclass
class OneOffTask:
    account_id: str
    region: str
    cluster: str
    task_arn: str
    family: str
    started_at: float
    exit_code: int
    logs: tuple[str, ...]
    reason: str
    init_failure: str | None


ServiceKey = tuple[str, str, str, str]  # account, region, cluster, service


@dataclass(frozen=True)
class _Due:
    """A transition due at `at`: `apply(now)` it, or `drop` it when applying failed."""

    at: float
    apply: Callable[[float], None]
    drop: Callable[[], object]


class Scheduler:
    """ECS services and one-off tasks over moto's objects. Call everything under `lock`."""

    def __init__(
        self,
        policy: Callable[[], Policy],
        clock: Callable[[], float] = time.time,
        log: Callable[[str], None] = lambda line: None,
    ) -> None:
        self.lock = threading.RLock()
        self.policy = policy
        self.clock = clock
        self.log = log
        self.services: dict[ServiceKey, TrackedService] = {}
        self.one_off: dict[str, OneOffTask] = {}
        self.starting_service_tasks = False  # tells the RunTask hook the call is ours
        self.stale_reads = StaleReads()

    def reset(self) -> None:
        self.services.clear()
        self.one_off.clear()
        self.stale_reads.reset()

    # --- moto look-ups -------------------------------------------------------------------

    @staticmethod
    def _ecs(account_id: str, region: str) -> EC2ContainerServiceBackend:
        return ecs_backends[account_id][region]

    def _service_object(self, tracked: TrackedService) -> Any | None:
        backend = self._ecs(tracked.account_id, tracked.region)
        service = backend.services.get(f"{tracked.cluster}:{tracked.name}")
        if service is None or service.status != "ACTIVE":
            return None
        return service

    def _task(self, account_id: str, region: str, cluster: str, arn: str) -> Task | None:
        return self._ecs(account_id, region).tasks.get(cluster, {}).get(arn)

    def _deployment_tasks(self, tracked: TrackedService, deployment: Deployment) -> list[Task]:
        found = []
        for arn in deployment.task_arns:
            task = self._task(tracked.account_id, tracked.region, tracked.cluster, arn)
            if task is not None:
                found.append(task)
        return found

    # --- hooks from moto's ECS API -------------------------------------------------------

    def on_service_created(
        self, backend: EC2ContainerServiceBackend, service: Any, params: dict[str, Any]
    ) -> None:
        # moto drops these create_service parameters; ECS keeps and shows them.
        service.deployment_configuration = (
            params.get("deploymentConfiguration") or ecs_rules.DEFAULT_DEPLOYMENT_CONFIGURATION
        )
        if params.get("healthCheckGracePeriodSeconds") is not None:
            service.health_check_grace_period_seconds = params["healthCheckGracePeriodSeconds"]
        service.enable_execute_command = bool(params.get("enableExecuteCommand", False))
        if service.deployment_controller.get("type", "ECS") != "ECS" or not service.task_definition:
            return  # external controllers and task sets stay moto's
        tracked = TrackedService(
            backend.account_id, backend.region_name, service.cluster_name, service.name
        )
        self.services[(tracked.account_id, tracked.region, tracked.cluster, tracked.name)] = tracked
        self._start_deployment(
            tracked, service, service.task_definition, self.clock(), rollback=False
        )

    def on_service_updated(
        self,
        backend: EC2ContainerServiceBackend,
        service: Any,
        task_definition: str | None,
        force_new_deployment: bool,
    ) -> None:
        tracked = self.services.get(
            (backend.account_id, backend.region_name, service.cluster_name, service.name)
        )
        if tracked is None or not tracked.deployments:
            return
        primary = tracked.deployments[0]
        if task_definition:
            # moto stores the text given ("family"); ECS resolves it to the revision's ARN.
            new_arn = backend.describe_task_definition(task_definition).arn
        else:
            new_arn = primary.task_definition
        service.task_definition = new_arn
        now = self.clock()
        if new_arn != primary.task_definition or force_new_deployment:
            self._start_deployment(tracked, service, new_arn, now, rollback=False)
        elif service.desired_count != primary.desired_count:
            self._scale(tracked, service, primary, now)
        self._publish(tracked, service)

    def on_service_deleted(self, backend: EC2ContainerServiceBackend, service: Any) -> None:
        key = (backend.account_id, backend.region_name, service.cluster_name, service.name)
        tracked = self.services.pop(key, None)
        if tracked is None:
            return
        now = self.clock()
        for deployment in tracked.deployments:
            tasks = [
                t
                for t in self._deployment_tasks(tracked, deployment)
                if t.last_status in LIVE_STATES
            ]
            self._stop_service_tasks(tracked, service, tasks, now, "Service deleted")
        service.deployments = []
        service.running_count = 0
        service.pending_count = 0

    def on_tasks_run(self, backend: EC2ContainerServiceBackend, tasks: list[Task]) -> None:
        """One-off tasks (RunTask): RUNNING for `run_seconds`, then the policy's exit code."""
        now = self.clock()
        policy = self.policy()
        for task in tasks:
            task_definition = backend.describe_task_definition(task.task_definition_arn)
            rules = policy.for_task(task_definition.family)
            problem = self._log_setup_problem(backend, task_definition.container_definitions, task)
            self._prepare_task(task, task_definition, now, PENDING if problem else RUNNING)
            if problem:
                task.last_status = "PROVISIONING"
            self.one_off[task.task_arn] = OneOffTask(
                account_id=backend.account_id,
                region=backend.region_name,
                cluster=task.cluster_name,
                task_arn=task.task_arn,
                family=task_definition.family,
                started_at=now,
                exit_code=rules.exit_code,
                logs=rules.logs,
                reason=rules.reason or ecs_rules.ESSENTIAL_EXITED,
                init_failure=problem,
            )

    def on_task_stopped(self, backend: EC2ContainerServiceBackend, task: Task) -> None:
        """StopTask: what ECS shows on the task; a service task is deregistered and replaced."""
        now = self.clock()
        self.one_off.pop(task.task_arn, None)
        task.stop_code = "UserInitiated"
        task.stopping_at = task.stopped_at = task.execution_stopped_at = as_datetime(now)
        for container in task.containers:
            container.last_status = STOPPED
        key = (
            backend.account_id,
            backend.region_name,
            task.cluster_name,
            task.group.removeprefix(ecs_rules.SERVICE_GROUP_PREFIX),
        )
        tracked = self.services.get(key) if task.group.startswith("service:") else None
        service = self._service_object(tracked) if tracked is not None else None
        if tracked is None or service is None:
            return
        self._deregister_targets(tracked, service, [task], now)
        self._event(tracked, now, ecs_rules.stopped_tasks_message(tracked.name, [task.id]))
        owner = next((d for d in tracked.deployments if task.task_arn in d.task_arns), None)
        if owner is not None and owner.status == "PRIMARY" and owner.rollout_state != "FAILED":
            self._start_service_tasks(tracked, service, owner, 1, now)  # the scheduler replaces it
        self._publish(tracked, service)

    @staticmethod
    def filter_listed_tasks(tasks: list[Task], service_name: str | None) -> list[Task]:
        """ListTasks(serviceName=...): the service's tasks (moto ignores the filter)."""
        if not service_name:
            return tasks
        group = ecs_rules.service_group(service_name.rsplit("/", 1)[-1])
        return [t for t in tasks if t.group == group]

    # --- time ----------------------------------------------------------------------------

    def advance(self) -> None:
        """Apply every transition that is due, oldest first."""
        now = self.clock()
        while True:
            due = self._next_due()
            if due is None or due.at > now:
                return
            try:
                due.apply(now)
            except Exception as exc:
                # One broken transition must not turn every later request into an error.
                self.log(f"sim: dropped a transition that failed: {type(exc).__name__}: {exc}")
                due.drop()

    def _next_due(self) -> _Due | None:
        best: _Due | None = None
        policy = self.policy()
        for tracked in list(self.services.values()):
            # The times are read now, not at the start: a policy change reaches deployments and
            # tasks in progress (tests hold one with a long time, then release it with a short one).
            converge = policy.for_service(tracked.name).converge_seconds
            for deployment in tracked.deployments:
                at = deployment.created_at + converge
                if self._settles(deployment) and (best is None or at < best.at):
                    best = self._settling(tracked, deployment, at)
        for entry in self.one_off.values():
            # A task that cannot start (its log group is missing) stops at once.
            run = 0.0 if entry.init_failure else policy.for_task(entry.family).run_seconds
            at = entry.started_at + run
            if best is None or at < best.at:
                best = self._finishing(entry, at)
        return best

    @staticmethod
    def _settles(deployment: Deployment) -> bool:
        """Only the PRIMARY deployment completes or fails; older ones drain when it does."""
        return (
            deployment.status == "PRIMARY"
            and deployment.rollout_state == "IN_PROGRESS"
            and not deployment.held
        )

    def _settling(self, tracked: TrackedService, deployment: Deployment, at: float) -> _Due:
        def drop() -> None:
            deployment.held = True

        return _Due(at, lambda now: self._settle(tracked, deployment, at, now), drop)

    def _finishing(self, entry: OneOffTask, at: float) -> _Due:
        return _Due(
            at,
            lambda now: self._finish_one_off(entry, at),
            lambda: self.one_off.pop(entry.task_arn, None),
        )

    # --- services ------------------------------------------------------------------------

    def _start_deployment(
        self,
        tracked: TrackedService,
        service: Any,
        task_definition_arn: str,
        at: float,
        *,
        rollback: bool,
        adopt: Deployment | None = None,
    ) -> Deployment:
        """A new PRIMARY deployment; `adopt`'s live tasks (same revision) count towards it."""
        backend = self._ecs(tracked.account_id, tracked.region)
        task_definition = backend.describe_task_definition(task_definition_arn)
        rules = self.policy().for_service(tracked.name)
        images = ecs_rules.container_images(task_definition.container_definitions)
        # A rollback returns to a revision that ran before; it is not failed again.
        fails = not rollback and service.desired_count > 0 and matches(rules.fail, images)
        for older in tracked.deployments:
            if older.status == "PRIMARY":
                older.status = "ACTIVE"
                older.updated_at = at
        deployment = Deployment(
            id=ecs_rules.new_deployment_id(),
            task_definition=task_definition.arn,
            desired_count=service.desired_count,
            created_at=at,
            updated_at=at,
            fails=fails,
        )
        deployment.rollout_state_reason = f"ECS deployment {deployment.id} in progress."
        if adopt is not None:
            live = [
                t for t in self._deployment_tasks(tracked, adopt) if t.last_status in LIVE_STATES
            ]
            deployment.task_arns = [t.task_arn for t in live]
            tracked.deployments.remove(adopt)
        tracked.deployments.insert(0, deployment)
        service.task_definition = task_definition.arn
        missing = service.desired_count - len(deployment.task_arns)
        self._start_service_tasks(tracked, service, deployment, missing, at)
        self._publish(tracked, service)
        return deployment

    def _start_service_tasks(
        self, tracked: TrackedService, service: Any, deployment: Deployment, count: int, at: float
    ) -> None:
        if count <= 0:
            return
        backend = self._ecs(tracked.account_id, tracked.region)
        task_definition = backend.describe_task_definition(deployment.task_definition)
        self.starting_service_tasks = True
        try:
            tasks = backend.run_task(
                tracked.cluster,
                deployment.task_definition,
                count,
                None,
                deployment.id,
                None,
                "FARGATE",
                service.network_configuration or None,
                ecs_rules.service_group(tracked.name),
                service.platform_version,
                None,
            )
        except Exception as exc:
            self._event(tracked, at, f"(service {tracked.name}) was unable to place a task: {exc}")
            self.log(f"sim: service {tracked.name}: cannot start tasks: {exc}")
            return
        finally:
            self.starting_service_tasks = False
        # A deployment that is going to fail never gets its tasks running.
        state = PENDING if deployment.fails else RUNNING
        for task in tasks:
            self._prepare_task(task, task_definition, at, state)
            task.launch_type = service.launch_type or "FARGATE"
            deployment.task_arns.append(task.task_arn)
        self._event(
            tracked,
            at,
            ecs_rules.started_tasks_message(
                tracked.name, [ecs_rules.task_id(t.task_arn) for t in tasks]
            ),
        )
        if state == RUNNING:
            self._register_targets(tracked, service, tasks, at)

    def _scale(self, tracked: TrackedService, service: Any, primary: Deployment, at: float) -> None:
        """Same task definition, new desiredCount: start or stop tasks of the PRIMARY."""
        primary.desired_count = service.desired_count
        primary.updated_at = at
        live = [t for t in self._deployment_tasks(tracked, primary) if t.last_status in LIVE_STATES]
        if len(live) < primary.desired_count and primary.rollout_state != "FAILED":
            self._start_service_tasks(
                tracked, service, primary, primary.desired_count - len(live), at
            )
        elif len(live) > primary.desired_count:
            excess = live[primary.desired_count :]
            self._stop_service_tasks(
                tracked, service, excess, at, ecs_rules.scaling_reason(primary.id)
            )
        steady = not self._short_of_tasks(tracked, primary)
        if primary.rollout_state == "COMPLETED" and len(tracked.deployments) == 1 and steady:
            self._event(tracked, at, ecs_rules.steady_state_message(tracked.name))

    def _settle(
        self, tracked: TrackedService, deployment: Deployment, at: float, now: float
    ) -> None:
        """`at`: when it was due; `now`: when a request noticed (a rollback starts then)."""
        service = self._service_object(tracked)
        if service is None:
            self.services.pop(
                (tracked.account_id, tracked.region, tracked.cluster, tracked.name), None
            )
            return
        if deployment.fails or self._short_of_tasks(tracked, deployment):
            # Tasks that never started are not a steady state: the circuit breaker's case.
            self._fail(tracked, service, deployment, at, now)
        else:
            self._complete(tracked, service, deployment, at)
        self._publish(tracked, service)

    def _short_of_tasks(self, tracked: TrackedService, deployment: Deployment) -> bool:
        """Fewer live tasks than desired: some could not be started (see the service's events)."""
        live = [
            t for t in self._deployment_tasks(tracked, deployment) if t.last_status in LIVE_STATES
        ]
        return len(live) < deployment.desired_count

    def _complete(
        self, tracked: TrackedService, service: Any, deployment: Deployment, at: float
    ) -> None:
        deployment.rollout_state = "COMPLETED"
        deployment.rollout_state_reason = f"ECS deployment {deployment.id} completed."
        deployment.updated_at = at
        for older in tracked.deployments:
            if older is deployment:
                continue
            tasks = [
                t for t in self._deployment_tasks(tracked, older) if t.last_status in LIVE_STATES
            ]
            self._stop_service_tasks(
                tracked, service, tasks, at, ecs_rules.scaling_reason(deployment.id)
            )
        tracked.deployments = [deployment]
        self._event(
            tracked, at, ecs_rules.deployment_completed_message(tracked.name, deployment.id)
        )
        self._event(tracked, at, ecs_rules.steady_state_message(tracked.name))

    def _fail(
        self, tracked: TrackedService, service: Any, deployment: Deployment, at: float, now: float
    ) -> None:
        tasks = [
            t for t in self._deployment_tasks(tracked, deployment) if t.last_status in LIVE_STATES
        ]
        for task in tasks:
            self._stop_task(
                task, at, "EssentialContainerExited", ecs_rules.ESSENTIAL_EXITED, exit_code=1
            )
        deployment.failed_tasks += max(len(tasks), 1)
        deployment.rollout_state = "FAILED"
        deployment.rollout_state_reason = "ECS deployment circuit breaker: tasks failed to start."
        deployment.updated_at = at
        self._event(tracked, at, ecs_rules.deployment_failed_message(tracked.name, deployment.id))
        if not ecs_rules.rolls_back(getattr(service, "deployment_configuration", None)):
            return
        previous = next(
            (d for d in tracked.deployments if d is not deployment and d.rollout_state != "FAILED"),
            None,
        )
        if previous is None:
            return
        # The rollback starts when the failure is noticed, so it is always seen in progress.
        self._event(tracked, now, ecs_rules.rolling_back_message(tracked.name, previous.id))
        self._start_deployment(
            tracked, service, previous.task_definition, now, rollback=True, adopt=previous
        )

    def _stop_service_tasks(
        self, tracked: TrackedService, service: Any, tasks: list[Task], at: float, reason: str
    ) -> None:
        if not tasks:
            return
        running = [t for t in tasks if t.last_status == RUNNING]
        self._deregister_targets(tracked, service, running, at)
        for task in tasks:
            self._stop_task(task, at, "ServiceSchedulerInitiated", reason, exit_code=0)
        self._event(
            tracked,
            at,
            ecs_rules.stopped_tasks_message(
                tracked.name, [ecs_rules.task_id(t.task_arn) for t in tasks]
            ),
        )

    # --- targets -------------------------------------------------------------------------

    @staticmethod
    def _task_ip(task: Task) -> str | None:
        for attachment in getattr(task, "attachments", []):
            for detail in attachment.get("details", []):
                if detail.get("name") == "privateIPv4Address":
                    return str(detail["value"])
        return None

    def _targets(self, tasks: list[Task], port: int | None) -> list[dict[str, Any]]:
        targets = []
        for task in tasks:
            ip = self._task_ip(task)
            if ip is not None:
                targets.append({"Id": ip, "Port": port} if port else {"Id": ip})
        return targets

    def _balanced_targets(
        self, tracked: TrackedService, service: Any, tasks: list[Task]
    ) -> Iterator[tuple[Any, str, list[dict[str, Any]]]]:
        """(elbv2 backend, target group ARN, the tasks' targets) per load balancer of `service`
        that names a target group and has targets among `tasks`."""
        elbv2 = elbv2_backends[tracked.account_id][tracked.region]
        for balancer in service.load_balancers:
            arn = balancer.get("targetGroupArn")
            targets = self._targets(tasks, balancer.get("containerPort"))
            if arn and targets:
                yield elbv2, arn, targets

    def _register_targets(
        self, tracked: TrackedService, service: Any, tasks: list[Task], at: float
    ) -> None:
        for elbv2, arn, targets in self._balanced_targets(tracked, service, tasks):
            try:
                elbv2.register_targets(arn, targets)
            except Exception as exc:
                self.log(f"sim: service {tracked.name}: cannot register targets in {arn}: {exc}")
                continue
            self._event(
                tracked, at, ecs_rules.registered_targets_message(tracked.name, len(targets), arn)
            )

    def _deregister_targets(
        self, tracked: TrackedService, service: Any, tasks: list[Task], at: float
    ) -> None:
        for elbv2, arn, targets in self._balanced_targets(tracked, service, tasks):
            target_group = elbv2.target_groups.get(arn)
            if target_group is None:
                continue
            gone = [t for t in targets if t["Id"] in target_group.targets]
            if not gone:
                continue
            target_group.deregister(gone)
            self._event(
                tracked, at, ecs_rules.deregistered_targets_message(tracked.name, len(gone), arn)
            )

    # --- tasks ---------------------------------------------------------------------------

    @staticmethod
    def _prepare_task(task: Task, task_definition: Any, at: float, state: str) -> None:
        """Every container of the task definition (moto shows only the first), ECS's fields."""
        containers = []
        for definition in task_definition.container_definitions:
            container = Container(task_definition)
            container.container_arn = container.container_arn.replace(
                task_definition.arn, task.task_arn.replace(":task/", ":container/"), 1
            )
            container.task_arn = task.task_arn
            container.name = definition.get("name")
            container.image = definition.get("image")
            container.cpu = definition.get("cpu", 0)
            container.memory = definition.get("memory")
            container.memory_reservation = definition.get("memoryReservation")
            container.essential = definition.get("essential", True)
            container.exitCode = None
            container.last_status = state
            containers.append(container)
        task.containers = containers
        task.last_status = state
        task.desired_status = RUNNING
        task.created_at = as_datetime(at)
        task.cpu = task_definition.cpu
        task.memory = task_definition.memory
        if state == RUNNING:
            task.started_at = as_datetime(at)
            task.pull_started_at = task.pull_stopped_at = as_datetime(at)

    @staticmethod
    def _stop_task(
        task: Task, at: float, stop_code: str, reason: str, exit_code: int | None
    ) -> None:
        stamp = as_datetime(at)
        task.last_status = STOPPED
        task.desired_status = STOPPED
        task.stop_code = stop_code
        task.stopped_reason = reason
        task.stopping_at = task.stopped_at = task.execution_stopped_at = stamp
        for container in task.containers:
            container.last_status = STOPPED
            container.exitCode = exit_code

    def _log_setup_problem(
        self, backend: EC2ContainerServiceBackend, containers: list[dict[str, Any]], task: Task
    ) -> str | None:
        """ECS cannot start a task whose awslogs group is missing (unless it may create it)."""
        for container in containers:
            destination = ecs_rules.awslogs_destination(
                container, task.task_arn, backend.region_name
            )
            if destination is None or destination.create_group:
                continue
            if (
                destination.group
                not in logs_backends[backend.account_id][destination.region].groups
            ):
                return ecs_rules.MISSING_LOG_GROUP
        return None

    def _finish_one_off(self, entry: OneOffTask, at: float) -> None:
        self.one_off.pop(entry.task_arn, None)
        task = self._task(entry.account_id, entry.region, entry.cluster, entry.task_arn)
        if task is None or task.last_status == STOPPED:
            return
        if entry.init_failure:
            self._stop_task(task, at, "TaskFailedToStart", entry.init_failure, exit_code=None)
            return
        backend = self._ecs(entry.account_id, entry.region)
        task_definition = backend.describe_task_definition(task.task_definition_arn)
        for definition in task_definition.container_definitions:
            if definition.get("essential", True):
                self._write_logs(entry, definition)
        self._stop_task(task, at, "EssentialContainerExited", entry.reason, exit_code=None)
        for container, definition in zip(
            task.containers, task_definition.container_definitions, strict=False
        ):
            # The essential containers exit with the policy's code; ECS stops the others.
            container.exitCode = entry.exit_code if definition.get("essential", True) else 0

    def _write_logs(self, entry: OneOffTask, container: dict[str, Any]) -> None:
        destination = ecs_rules.awslogs_destination(container, entry.task_arn, entry.region)
        if destination is None or not entry.logs:
            return
        logs = logs_backends[entry.account_id][destination.region]
        if destination.group not in logs.groups:
            if not destination.create_group:
                return
            logs.create_log_group(destination.group, {})
        logs.ensure_log_stream(destination.group, destination.stream)
        first = int(entry.started_at * 1000)
        events = [
            {"timestamp": first + index, "message": line} for index, line in enumerate(entry.logs)
        ]
        logs.put_log_events(destination.group, destination.stream, events)

    # --- what DescribeServices shows -----------------------------------------------------

    def _event(self, tracked: TrackedService, at: float, message: str) -> None:
        tracked.events.insert(
            0, {"id": str(uuid.uuid4()), "createdAt": as_datetime(at), "message": message}
        )
        del tracked.events[ecs_rules.MAX_EVENTS :]

    def _publish(self, tracked: TrackedService, service: Any) -> None:
        running_total = pending_total = 0
        views = []
        for deployment in tracked.deployments:
            states = [t.last_status for t in self._deployment_tasks(tracked, deployment)]
            running = states.count(RUNNING)
            pending = sum(1 for s in states if s in (PENDING, "PROVISIONING"))
            running_total += running
            pending_total += pending
            views.append(
                {
                    "id": deployment.id,
                    "status": deployment.status,
                    "taskDefinition": deployment.task_definition,
                    "desiredCount": deployment.desired_count,
                    "pendingCount": pending,
                    "runningCount": running,
                    "failedTasks": deployment.failed_tasks,
                    "createdAt": as_datetime(deployment.created_at),
                    "updatedAt": as_datetime(deployment.updated_at),
                    "launchType": service.launch_type,
                    "platformVersion": service.platform_version,
                    "platformFamily": "Linux",
                    "networkConfiguration": service.network_configuration or None,
                    "rolloutState": deployment.rollout_state,
                    "rolloutStateReason": deployment.rollout_state_reason,
                }
            )
        service.deployments = views
        service.running_count = running_total
        service.pending_count = pending_total
        service.events = list(tracked.events)
        if tracked.deployments:
            service.task_definition = tracked.deployments[0].task_definition

    # --- the health endpoint -------------------------------------------------------------

    def health(self, cluster: str, service_name: str) -> tuple[int, dict[str, Any]]:
        for tracked in self.services.values():
            if tracked.cluster != cluster or tracked.name != service_name:
                continue
            service = self._service_object(tracked)
            if service is None:
                continue
            self._publish(tracked, service)
            backend = self._ecs(tracked.account_id, tracked.region)
            task_definition = backend.describe_task_definition(service.task_definition)
            images = ecs_rules.container_images(task_definition.container_definitions)
            rules = self.policy().for_service(service_name)
            summaries = [
                ecs_rules.DeploymentSummary(d.id, d.status, d.rollout_state)
                for d in tracked.deployments
            ]
            problems = ecs_rules.health_problems(
                summaries, service.running_count, images, rules.unhealthy
            )
            body: dict[str, Any] = {
                "status": "unavailable" if problems else "ok",
                "cluster": cluster,
                "service": service_name,
                "taskDefinition": service.task_definition,
                "images": images,
                "deployment": tracked.deployments[0].id if tracked.deployments else None,
                "runningCount": service.running_count,
            }
            if problems:
                body["reasons"] = problems
            return (503 if problems else 200), body
        return 404, {
            "status": "unknown",
            "reason": f"no ECS service {service_name!r} in cluster {cluster!r}",
        }
