"""One-off tasks (RunTask) in the sandbox: run, stop with the policy's exit code, write logs."""

from __future__ import annotations

from typing import Any

from support.sim_sandbox import HOLD_SECONDS, wait_for

MIGRATE = ["starter-console", "release", "db"]


def run_migration(ecs: Any, environment: Any, task_definition: str | None = None) -> str:
    answer = ecs.run_task(
        cluster=environment.cluster,
        taskDefinition=task_definition or environment.task_definitions["api"],
        launchType="FARGATE",
        networkConfiguration=environment.network_configuration(),
        overrides={"containerOverrides": [{"name": "api", "command": MIGRATE}]},
        startedBy="shipline",
    )
    assert answer["failures"] == []
    return str(answer["tasks"][0]["taskArn"])


def describe_task(ecs: Any, environment: Any, arn: str) -> dict[str, Any]:
    return ecs.describe_tasks(cluster=environment.cluster, tasks=[arn])["tasks"][0]


def wait_stopped(ecs: Any, environment: Any, arn: str) -> dict[str, Any]:
    def stopped() -> dict[str, Any] | None:
        task = describe_task(ecs, environment, arn)
        return task if task["lastStatus"] == "STOPPED" else None

    return wait_for(stopped)


def log_lines(logs: Any, group: str, stream: str) -> list[dict[str, Any]]:
    return logs.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True)[
        "events"
    ]


def test_task_runs_then_exits_0_and_its_log_lines_reach_cloudwatch(sandbox, environment):
    ecs, logs = sandbox.client("ecs"), sandbox.client("logs")
    lines = ["applying 3 migrations", "migrated 3 tables", "done"]
    sandbox.policy({"tasks": {"*": {"run_seconds": HOLD_SECONDS, "logs": lines}}})

    arn = run_migration(ecs, environment)
    for _ in range(3):  # moto's own state machine would move it on every DescribeTasks
        running = describe_task(ecs, environment, arn)
        assert running["lastStatus"] == "RUNNING"
        assert running["desiredStatus"] == "RUNNING"
    assert "startedAt" in running
    assert "stopCode" not in running and "exitCode" not in running["containers"][0]

    sandbox.policy({"tasks": {"*": {"run_seconds": 0.1, "logs": ["not these"]}}})

    task = wait_stopped(ecs, environment, arn)
    assert task["desiredStatus"] == "STOPPED"
    assert task["stopCode"] == "EssentialContainerExited"
    assert task["stoppedReason"] == "Essential container in task exited"
    assert task["stoppedAt"] >= task["startedAt"]
    [container] = task["containers"]
    assert (container["name"], container["exitCode"], container["lastStatus"]) == (
        "api",
        0,
        "STOPPED",
    )

    task_id = arn.rsplit("/", 1)[-1]
    events = log_lines(logs, environment.log_groups["api"], f"api/api/{task_id}")
    assert [e["message"] for e in events] == lines
    stamps = [e["timestamp"] for e in events]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)


def test_task_exit_code_and_reason_come_from_the_family_rule(sandbox, environment):
    ecs = sandbox.client("ecs")
    family = environment.families["api"]
    sandbox.policy(
        {
            "tasks": {
                "*": {"run_seconds": 0.1, "exit_code": 0},
                family: {"exit_code": 1, "reason": "migration failed"},
            }
        }
    )
    task = wait_stopped(ecs, environment, run_migration(ecs, environment))
    assert task["stopCode"] == "EssentialContainerExited"
    assert task["stoppedReason"] == "migration failed"
    assert task["containers"][0]["exitCode"] == 1

    # Another family keeps the "*" rule.
    worker = wait_stopped(
        ecs, environment, run_migration(ecs, environment, environment.task_definitions["worker"])
    )
    assert worker["containers"][0]["exitCode"] == 0
    assert worker["stoppedReason"] == "Essential container in task exited"


def test_every_container_appears_and_non_essential_ones_do_not_carry_the_exit_code(
    sandbox, environment
):
    ecs = sandbox.client("ecs")
    sandbox.policy({"tasks": {"*": {"run_seconds": 0.1, "exit_code": 3}}})
    base = ecs.describe_task_definition(taskDefinition=environment.task_definitions["api"])[
        "taskDefinition"
    ]
    app = dict(base["containerDefinitions"][0])
    sidecar = {
        "name": "log-router",
        "image": "public.ecr.aws/aws-observability/aws-for-fluent-bit:stable",
        "essential": False,
        "memoryReservation": 64,
    }
    arn = ecs.register_task_definition(
        family="two-containers",
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu="512",
        memory="1024",
        containerDefinitions=[app, sidecar],
    )["taskDefinition"]["taskDefinitionArn"]

    task = wait_stopped(ecs, environment, run_migration(ecs, environment, arn))
    exit_codes = {c["name"]: c["exitCode"] for c in task["containers"]}
    assert exit_codes == {"api": 3, "log-router": 0}


def test_missing_log_group_stops_the_task_like_ecs(sandbox, environment):
    ecs = sandbox.client("ecs")
    sandbox.policy({"tasks": {"*": {"run_seconds": 5}}})
    base = ecs.describe_task_definition(taskDefinition=environment.task_definitions["api"])[
        "taskDefinition"
    ]
    container = dict(base["containerDefinitions"][0])
    container["logConfiguration"] = {
        "logDriver": "awslogs",
        "options": {
            "awslogs-group": "/ecs/missing",
            "awslogs-region": environment.region,
            "awslogs-stream-prefix": "api",
        },
    }
    arn = ecs.register_task_definition(
        family="no-log-group",
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu="512",
        memory="1024",
        containerDefinitions=[container],
    )["taskDefinition"]["taskDefinitionArn"]

    task = wait_stopped(ecs, environment, run_migration(ecs, environment, arn))
    assert task["stopCode"] == "TaskFailedToStart"
    assert task["stoppedReason"].startswith("ResourceInitializationError:")
    assert "log group does not exist" in task["stoppedReason"]
    assert "exitCode" not in task["containers"][0]


def test_awslogs_create_group_true_creates_the_group(sandbox, environment):
    ecs, logs = sandbox.client("ecs"), sandbox.client("logs")
    sandbox.policy({"tasks": {"*": {"run_seconds": 0.1, "logs": ["hello"]}}})
    base = ecs.describe_task_definition(taskDefinition=environment.task_definitions["api"])[
        "taskDefinition"
    ]
    container = dict(base["containerDefinitions"][0])
    container["logConfiguration"] = {
        "logDriver": "awslogs",
        "options": {
            "awslogs-group": "/ecs/created-on-demand",
            "awslogs-region": environment.region,
            "awslogs-stream-prefix": "one-off",
            "awslogs-create-group": "true",
        },
    }
    arn = ecs.register_task_definition(
        family="creates-log-group",
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu="512",
        memory="1024",
        containerDefinitions=[container],
    )["taskDefinition"]["taskDefinitionArn"]

    task_arn = run_migration(ecs, environment, arn)
    task = wait_stopped(ecs, environment, task_arn)
    assert task["containers"][0]["exitCode"] == 0
    stream = f"one-off/api/{task_arn.rsplit('/', 1)[-1]}"
    assert [e["message"] for e in log_lines(logs, "/ecs/created-on-demand", stream)] == ["hello"]


def test_list_tasks_shows_running_tasks_unless_asked_for_stopped_ones(sandbox, environment):
    ecs = sandbox.client("ecs")
    sandbox.policy({"tasks": {"*": {"run_seconds": 0.1}}})
    arn = run_migration(ecs, environment)
    assert arn in ecs.list_tasks(cluster=environment.cluster)["taskArns"]
    wait_stopped(ecs, environment, arn)

    assert arn not in ecs.list_tasks(cluster=environment.cluster)["taskArns"]
    stopped = ecs.list_tasks(cluster=environment.cluster, desiredStatus="STOPPED")["taskArns"]
    assert arn in stopped
    family = ecs.list_tasks(
        cluster=environment.cluster, family=environment.families["api"], desiredStatus="STOPPED"
    )["taskArns"]
    assert family == [arn]


def test_stop_task_marks_a_one_off_task_user_initiated(sandbox, environment):
    ecs = sandbox.client("ecs")
    sandbox.policy({"tasks": {"*": {"run_seconds": HOLD_SECONDS}}})
    arn = run_migration(ecs, environment)
    ecs.stop_task(cluster=environment.cluster, task=arn, reason="cancelled by the release")
    task = describe_task(ecs, environment, arn)
    assert (task["lastStatus"], task["desiredStatus"]) == ("STOPPED", "STOPPED")
    assert task["stopCode"] == "UserInitiated"
    assert task["stoppedReason"] == "cancelled by the release"
