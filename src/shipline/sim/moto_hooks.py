"""Plugging the scheduler into moto's ECS: wrapped methods, installed for the sandbox's lifetime.

The wrappers live on moto's classes (not instances) because `POST /moto-api/reset` replaces the
backend objects. Backend methods are wrapped where the scheduler needs the objects moto made;
response methods where it needs request parameters moto drops (deploymentConfiguration).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

from moto.core.exceptions import JsonRESTError, ServiceException
from moto.ec2.models import ec2_backends
from moto.ec2.models.elastic_network_interfaces import NetworkInterface
from moto.ec2.utils import generate_dns_from_ip
from moto.ecs.exceptions import InvalidParameterException
from moto.ecs.models import EC2ContainerServiceBackend, TaskDefinition
from moto.ecs.responses import EC2ContainerServiceResponse
from moto.moto_api import state_manager

from shipline.sim.scheduler import Scheduler
from shipline.sim.stale_reads import frozen_copy

# moto's own task state machine would move tasks on every DescribeTasks; the scheduler decides.
TASK_TRANSITION = {"progression": "manual", "times": 2**31}


def hold_task_states() -> None:
    state_manager.set_transition("ecs::task", TASK_TRANSITION)


class SandboxServerException(JsonRESTError):
    """ECS's ServerException ("usually caused by a server issue"), HTTP 500 as ECS answers it:
    what a client gets when the sandbox itself fails on a request, instead of an HTML page."""

    code = 500

    def __init__(self, message: str) -> None:
        super().__init__("ServerException", message)


def _guarded(name: str, hook: Callable[..., Any], log: Callable[[str], None]) -> Callable[..., Any]:
    """`hook`, with any exception that is not an AWS error turned into an ECS ServerException
    (one line on the sandbox's stderr): a client sees an ECS-style error, never a false success."""

    @functools.wraps(hook)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            return hook(*args, **kwargs)
        except (ServiceException, JsonRESTError):
            raise  # AWS errors, already in ECS's shape
        except Exception as exc:
            log(f"sim: ecs {name} failed in the sandbox: {type(exc).__name__}: {exc}")
            raise SandboxServerException(
                f"the sandbox could not handle {name}: {type(exc).__name__}: {exc}"
            ) from None

    return guarded


def with_default_security_group(
    account_id: str, region: str, network: dict[str, Any] | None
) -> dict[str, Any] | None:
    """ECS's rule (AwsVpcConfiguration.securityGroups): without security groups the task uses
    the default security group of its subnets' VPC. moto requires the list."""
    config = (network or {}).get("awsvpcConfiguration")
    if not isinstance(config, dict) or config.get("securityGroups") or not config.get("subnets"):
        return network
    ec2 = ec2_backends[account_id][region]
    try:
        vpc_id = ec2.get_subnet(config["subnets"][0]).vpc_id
    except ServiceException:
        return network  # an unknown subnet: moto's own check answers it
    default = ec2.get_default_security_group(vpc_id)
    if default is None:
        return network
    return {**(network or {}), "awsvpcConfiguration": {**config, "securityGroups": [default.id]}}


def _private_dns_name(self: NetworkInterface) -> str:
    """An ENI's private DNS name; moto sets one only in VPCs with DNS hostnames, and its ECS
    tasks then fail. ECS runs awsvpc tasks in any VPC, and EC2 names every private IP."""
    return str(
        self.__dict__.get("_sim_private_dns_name") or generate_dns_from_ip(self.private_ip_address)
    )


def _set_private_dns_name(self: NetworkInterface, value: str) -> None:
    self.__dict__["_sim_private_dns_name"] = value


PRIVATE_DNS_NAME = property(_private_dns_name, _set_private_dns_name)


def _service_or_none(backend: EC2ContainerServiceBackend, cluster: str, service: str) -> Any:
    """The service as moto keeps it, or None (moto's own call then answers the error)."""
    try:
        return backend._get_service(cluster, service.split("/")[-1])
    except (ServiceException, JsonRESTError):
        return None


def require_awsvpc_network(task_definition: TaskDefinition, network: Any) -> None:
    """ECS refuses a service or task of an awsvpc task definition without a network
    configuration (InvalidParameterException); moto would create the service regardless."""
    if task_definition.network_mode == "awsvpc" and not network:
        raise InvalidParameterException(
            "Network Configuration must be provided when networkMode 'awsvpc' is specified."
        )


def _task_resources(
    original: Callable[[Any], dict[str, Any]], task_definition: TaskDefinition
) -> dict[str, Any]:
    """moto's resource sum with ECS's rule for memory: a container may leave it to the task
    (TaskDefinition.memory: "If a task-level memory value is specified, the container-level
    memory value is optional"); moto adds None and fails."""
    memory_keys = ("memory", "memoryReservation", "Memory", "MemoryReservation")
    containers = [
        c if any(c.get(k) is not None for k in memory_keys) else {**c, "memory": 0}
        for c in task_definition.container_definitions
    ]
    resources = original(SimpleNamespace(container_definitions=containers))
    if not resources["MEMORY"] and task_definition.memory:
        resources["MEMORY"] = int(task_definition.memory)
    if not resources["CPU"] and task_definition.cpu:
        resources["CPU"] = int(task_definition.cpu)
    return resources


def _wrappers(
    scheduler: Scheduler, originals: dict[tuple[type, str], Any]
) -> dict[tuple[type, str], Callable[..., Any]]:
    backend_cls, response_cls = EC2ContainerServiceBackend, EC2ContainerServiceResponse

    def run_task(
        self: EC2ContainerServiceBackend,
        cluster_str: str,
        task_definition_str: str,
        count: int,
        overrides: dict[str, Any] | None,
        started_by: str,
        tags: list[dict[str, str]] | None,
        launch_type: str | None,
        networking_configuration: dict[str, Any] | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        network = with_default_security_group(
            self.account_id, self.region_name, networking_configuration
        )
        tasks = originals[(backend_cls, "run_task")](
            self,
            cluster_str,
            task_definition_str,
            count,
            overrides,
            started_by,
            tags,
            launch_type,
            network,
            *args,
            **kwargs,
        )
        if not scheduler.starting_service_tasks:
            scheduler.on_tasks_run(self, tasks)
        return tasks

    def list_tasks(
        self: EC2ContainerServiceBackend,
        cluster_str: str | None = None,
        container_instance: str | None = None,
        family: str | None = None,
        started_by: str | None = None,
        service_name: str | None = None,
        desiredStatus: str | None = None,  # moto names it so
    ) -> Any:
        # ECS lists desiredStatus RUNNING unless asked otherwise, and honours serviceName.
        tasks = originals[(backend_cls, "list_tasks")](
            self,
            cluster_str,
            container_instance,
            family,
            started_by,
            None,
            desiredStatus or "RUNNING",
        )
        return scheduler.filter_listed_tasks(tasks, service_name)

    def stop_task(
        self: EC2ContainerServiceBackend, cluster_str: str, task_str: str, reason: str
    ) -> Any:
        task = originals[(backend_cls, "stop_task")](self, cluster_str, task_str, reason)
        scheduler.on_task_stopped(self, task)
        return task

    def create_service_model(self: EC2ContainerServiceBackend, *args: Any, **kwargs: Any) -> Any:
        network = with_default_security_group(
            self.account_id, self.region_name, kwargs.get("network_configuration")
        )
        task_definition = kwargs.get("task_definition_str") or (args[3] if len(args) > 3 else None)
        if task_definition:
            require_awsvpc_network(self.describe_task_definition(task_definition), network)
        if network is not None:
            kwargs["network_configuration"] = network
        return originals[(backend_cls, "create_service")](self, *args, **kwargs)

    def task_resources(task_definition: TaskDefinition) -> dict[str, Any]:
        return _task_resources(
            originals[(backend_cls, "_calculate_task_resource_requirements")], task_definition
        )

    def create_service(self: EC2ContainerServiceResponse) -> Any:
        result = originals[(response_cls, "create_service")](self)
        service = self.ecs_backend._get_service(
            self._get_param("cluster", "default"), self._get_param("serviceName")
        )
        params = {
            name: self._get_param(name)
            for name in (
                "deploymentConfiguration",
                "healthCheckGracePeriodSeconds",
                "enableExecuteCommand",
            )
        }
        scheduler.on_service_created(self.ecs_backend, service, params)
        return result

    def update_service(self: EC2ContainerServiceResponse) -> Any:
        task_definition = self._get_param("taskDefinition")
        force = bool(self._get_param("forceNewDeployment", False))
        cluster, name = self._get_param("cluster", "default"), self._get_param("service") or ""
        before = _service_or_none(self.ecs_backend, cluster, name)
        before = frozen_copy(before) if before is not None else None
        result = originals[(response_cls, "update_service")](self)
        service = self.ecs_backend._get_service(cluster, name.split("/")[-1])
        scheduler.on_service_updated(self.ecs_backend, service, task_definition, force)
        stale_reads = scheduler.policy().for_service(service.name).stale_reads
        scheduler.stale_reads.updated(before, stale_reads)
        return result

    def describe_services(
        self: EC2ContainerServiceBackend, cluster_str: str, names: list[str]
    ) -> Any:
        services, failures = originals[(backend_cls, "describe_services")](self, cluster_str, names)
        return scheduler.stale_reads.answer(services), failures

    def delete_service(self: EC2ContainerServiceResponse) -> Any:
        result = originals[(response_cls, "delete_service")](self)
        service = self.ecs_backend._get_service(
            self._get_param("cluster", "default"), self._get_param("service").split("/")[-1]
        )
        scheduler.on_service_deleted(self.ecs_backend, service)
        return result

    return {
        (backend_cls, "_calculate_task_resource_requirements"): task_resources,
        (backend_cls, "create_service"): create_service_model,
        (backend_cls, "describe_services"): describe_services,
        (backend_cls, "run_task"): run_task,
        (backend_cls, "list_tasks"): list_tasks,
        (backend_cls, "stop_task"): stop_task,
        (response_cls, "create_service"): create_service,
        (response_cls, "update_service"): update_service,
        (response_cls, "delete_service"): delete_service,
    }


@contextmanager
def installed(scheduler: Scheduler) -> Iterator[None]:
    """moto's ECS classes wrapped for `scheduler` inside the block, restored after it."""
    targets = [
        (EC2ContainerServiceBackend, "_calculate_task_resource_requirements"),
        (EC2ContainerServiceBackend, "create_service"),
        (EC2ContainerServiceBackend, "describe_services"),
        (EC2ContainerServiceBackend, "run_task"),
        (EC2ContainerServiceBackend, "list_tasks"),
        (EC2ContainerServiceBackend, "stop_task"),
        (EC2ContainerServiceResponse, "create_service"),
        (EC2ContainerServiceResponse, "update_service"),
        (EC2ContainerServiceResponse, "delete_service"),
    ]
    originals = {(cls, name): cls.__dict__[name] for cls, name in targets}
    if any(
        getattr(fn, "_shipline_sim", False) or getattr(fn.__func__, "_shipline_sim", False)
        if isinstance(fn, staticmethod)
        else getattr(fn, "_shipline_sim", False)
        for fn in originals.values()
    ):
        raise RuntimeError("a shipline sandbox is already running in this process")
    for (cls, name), wrapper in _wrappers(scheduler, originals).items():
        guarded = _guarded(name, wrapper, scheduler.log)
        guarded._shipline_sim = True  # type: ignore[attr-defined]
        is_static = isinstance(originals[(cls, name)], staticmethod)
        setattr(cls, name, staticmethod(guarded) if is_static else guarded)
    NetworkInterface.private_dns_name = PRIVATE_DNS_NAME  # type: ignore[attr-defined]
    hold_task_states()
    try:
        yield
    finally:
        del NetworkInterface.private_dns_name  # type: ignore[attr-defined]
        for (cls, name), original in originals.items():
            setattr(cls, name, original)
        state_manager.unset_transition("ecs::task")
