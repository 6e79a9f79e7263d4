"""Deploy and a manual rollback wait on ECS the same way (against the sandbox over HTTP).

ECS reads are eventually consistent: right after UpdateService, DescribeServices may still show
the service as it was (the sandbox policy's `stale_reads`). And a wait that sees one service fail
goes on until every other service has settled, so the result says what each one did.
"""

from __future__ import annotations

import re

import pytest

from support.deploy_support import records, run_cli, running_task_definitions, write_config


@pytest.fixture
def config(tmp_path, environment):
    return write_config(tmp_path, environment)


def shipline(capsys, config, *argv):
    return run_cli(capsys, *argv, "--config", str(config), "-e", "sim", "--json")


def deploy(capsys, config, environment, s3, tag):
    """`shipline deploy` of both images at `tag`; its release record."""
    images = [f"--image={key}={environment.image(key, tag)}" for key in ("api", "web")]
    ran = shipline(capsys, config, "deploy", *images)
    assert ran.code == 0, ran.err
    return records(environment, s3)[-1]


def settled_on(ecs, environment, key):
    """(task definition, rolloutState) of the service's one deployment, None while it has more."""
    [service] = ecs.describe_services(
        cluster=environment.cluster, services=[environment.services[key]]
    )["services"]
    if len(service["deployments"]) != 1:
        return None
    [deployment] = service["deployments"]
    return deployment["taskDefinition"], deployment["rolloutState"]


def test_a_deploy_waits_through_stale_ecs_reads(sandbox, environment, config, ecs, s3, capsys):
    sandbox.policy(
        {
            "services": {"*": {"converge_seconds": 0.2, "stale_reads": 2}},
            "tasks": {"*": {"run_seconds": 0.2}},
        }
    )
    before = running_task_definitions(environment, ecs)

    record = deploy(capsys, config, environment, s3, "v2")

    assert record["status"] == "succeeded"
    after = running_task_definitions(environment, ecs)
    assert all(after[key] != before[key] for key in after)
    assert {key: entry["task_definition"] for key, entry in record["services"].items()} == after


def test_a_manual_rollback_waits_through_stale_ecs_reads(
    sandbox, environment, config, ecs, s3, capsys
):
    first = deploy(capsys, config, environment, s3, "v2")
    deploy(capsys, config, environment, s3, "v3")
    # The first two DescribeServices answers after each UpdateService still show v3 as the
    # primary deployment: not a circuit-breaker rollback, only ECS not listing v2's yet.
    sandbox.policy(
        {
            "services": {"*": {"converge_seconds": 0.2, "stale_reads": 2}},
            "tasks": {"*": {"run_seconds": 0.2}},
        }
    )

    ran = shipline(capsys, config, "rollback")

    assert ran.code == 0, ran.err
    result = ran.json()
    assert (result["status"], result["rolled_back_to"]) == ("succeeded", first["release_id"])
    wanted = {key: entry["task_definition"] for key, entry in first["services"].items()}
    assert running_task_definitions(environment, ecs) == wanted
    assert records(environment, s3)[-1]["status"] == "succeeded"


def test_a_manual_rollback_that_fails_on_one_service_waits_for_the_others_to_settle(
    sandbox, environment, config, ecs, s3, capsys
):
    first = deploy(capsys, config, environment, s3, "v2")
    deploy(capsys, config, environment, s3, "v3")
    web, api = environment.services["web"], environment.services["api"]
    # web's rollout back to v2 fails fast; api's completes seconds later, so a wait that stopped
    # at the first failure would return while api is still in progress.
    sandbox.policy(
        {
            "services": {
                "*": {"converge_seconds": 0.2},
                web: {"fail": "web:v2"},
                api: {"converge_seconds": 3},
            },
            "tasks": {"*": {"run_seconds": 0.2}},
        }
    )

    ran = shipline(capsys, config, "rollback")

    assert ran.code == 3, ran.err
    result = ran.json()
    assert (result["status"], result["exit_code"]) == ("failed", 3)
    # When the rollback ends, api has settled where it was sent: it waited for api too.
    assert settled_on(ecs, environment, "api") == (
        first["services"]["api"]["task_definition"],
        "COMPLETED",
    )
    # Only web is named as failed; api, which completed, is not called unfinished.
    record = records(environment, s3)[-1]
    assert record["status"] == "failed"
    for error in (result["error"], record["error"]):
        assert re.search(r"\bweb\b", error), error
        assert not re.search(r"\bapi\b", error), error
