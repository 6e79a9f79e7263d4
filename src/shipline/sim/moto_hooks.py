"""Plugging the scheduler into moto's ECS: wrapped methods, installed for the sandbox's lifetime.

The wrappers live on moto's classes (not instances) because `POST /moto-api/reset` replaces the
backend objects. Backend methods are wrapped where the scheduler needs the objects moto made;
response methods where it needs request parameters moto drops (deploymentConfiguration).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from moto.ecs.models import EC2ContainerServiceBackend
from moto.ecs.responses import EC2ContainerServiceResponse
from moto.moto_api import state_manager

from shipline.sim.scheduler import Scheduler

# moto's own task state machine would move tasks on every DescribeTasks; the scheduler decides.
TASK_TRANSITION = {"progression": "manual", "times": 2**31}


def hold_task_states() -> None:
    state_manager.set_transition("ecs::task", TASK_TRANSITION)


def _wrappers(
    scheduler: Scheduler, originals: dict[tuple[type, str], Any]
) -> dict[tuple[type, str], Callable[..., Any]]:
    backend_cls, response_cls = EC2ContainerServiceBackend, EC2ContainerServiceResponse

    def run_task(self: EC2ContainerServiceBackend, *args: Any, **kwargs: Any) -> Any:
        tasks = originals[(backend_cls, "run_task")](self, *args, **kwargs)
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
        result = originals[(response_cls, "update_service")](self)
        service = self.ecs_backend._get_service(
            self._get_param("cluster", "default"), self._get_param("service").split("/")[-1]
        )
        scheduler.on_service_updated(self.ecs_backend, service, task_definition, force)
        return result

    def delete_service(self: EC2ContainerServiceResponse) -> Any:
        result = originals[(response_cls, "delete_service")](self)
        service = self.ecs_backend._get_service(
            self._get_param("cluster", "default"), self._get_param("service").split("/")[-1]
        )
        scheduler.on_service_deleted(self.ecs_backend, service)
        return result

    return {
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
        (EC2ContainerServiceBackend, "run_task"),
        (EC2ContainerServiceBackend, "list_tasks"),
        (EC2ContainerServiceBackend, "stop_task"),
        (EC2ContainerServiceResponse, "create_service"),
        (EC2ContainerServiceResponse, "update_service"),
        (EC2ContainerServiceResponse, "delete_service"),
    ]
    originals = {(cls, name): cls.__dict__[name] for cls, name in targets}
    if any(getattr(fn, "_shipline_sim", False) for fn in originals.values()):
        raise RuntimeError("a shipline sandbox is already running in this process")
    for (cls, name), wrapper in _wrappers(scheduler, originals).items():
        wrapper._shipline_sim = True  # type: ignore[attr-defined]
        setattr(cls, name, wrapper)
    hold_task_states()
    try:
        yield
    finally:
        for (cls, name), original in originals.items():
            setattr(cls, name, original)
        state_manager.unset_transition("ecs::task")
