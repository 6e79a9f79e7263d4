"""`shipline deploy` against the sandbox: every path of a release, end to end over HTTP."""

from __future__ import annotations

import pytest

from support.deploy_support import (
    image_of,
    lock_exists,
    records,
    register_variant,
    revision_count,
    run_cli,
    running_task_definitions,
    write_config,
)


@pytest.fixture
def config(tmp_path, environment):
    return write_config(tmp_path, environment)


def deploy(capsys, config, *args):
    return run_cli(capsys, "deploy", "--config", str(config), "-e", "sim", *args)


def images(environment, tag, keys=("api", "web")):
    return [arg for key in keys for arg in ("--image", f"{key}={environment.image(key, tag)}")]


def test_a_deploy_moves_every_service_migrates_verifies_and_records(
    capsys, sandbox, environment, config, ecs, s3, tmp_path, monkeypatch
):
    outputs, summary = tmp_path / "outputs", tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_OUTPUT", str(outputs))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    before = running_task_definitions(environment, ecs)
    ecs.tag_resource(
        resourceArn=environment.task_definitions["api"], tags=[{"key": "team", "value": "core"}]
    )

    ran = deploy(capsys, config, *images(environment, "v2"), "--json")

    assert ran.code == 0, ran.err
    after = running_task_definitions(environment, ecs)
    for key in ("api", "web", "worker"):
        assert after[key] != before[key]
        assert after[key].endswith(":2")
    # The tags given were resolved in the registry: the services run those images by digest.
    assert image_of(ecs, after["api"], "api") == environment.pinned("api", "v2")
    assert image_of(ecs, after["worker"], "api") == environment.pinned("api", "v2")
    assert image_of(ecs, after["web"], "web") == environment.pinned("web", "v2")
    # Only the image changed: everything else of the live task definition is kept, tags too.
    old = ecs.describe_task_definition(taskDefinition=before["api"])["taskDefinition"]
    new_answer = ecs.describe_task_definition(taskDefinition=after["api"], include=["TAGS"])
    new = new_answer["taskDefinition"]
    assert (
        new["containerDefinitions"][0]["environment"]
        == old["containerDefinitions"][0]["environment"]
    )
    assert new["containerDefinitions"][0]["secrets"] == old["containerDefinitions"][0]["secrets"]
    assert {k: new[k] for k in ("cpu", "memory", "executionRoleArn", "taskRoleArn")} == {
        k: old[k] for k in ("cpu", "memory", "executionRoleArn", "taskRoleArn")
    }
    assert new_answer["tags"] == [{"key": "team", "value": "core"}]

    [record] = records(environment, s3)
    assert record["status"] == "succeeded" and record["kind"] == "deploy"
    assert record["images"] == {
        "api": environment.pinned("api", "v2"),
        "web": environment.pinned("web", "v2"),
    }
    for key in ("api", "web", "worker"):
        entry = record["services"][key]
        assert entry["task_definition"] == after[key]
        assert entry["previous_task_definition"] == before[key]
        assert entry["desired_count"] == 2
    # The migration ran the NEW api revision, in the service's network, with the command.
    assert record["migrate"]["exit_code"] == 0
    assert record["migrate"]["task_definition"] == after["api"]
    task = ecs.describe_tasks(cluster=environment.cluster, tasks=[record["migrate"]["task_arn"]])[
        "tasks"
    ][0]
    assert task["overrides"]["containerOverrides"][0]["command"] == [
        "starter-console",
        "release",
        "db",
    ]
    assert task["taskDefinitionArn"] == after["api"]
    assert {h["service"]: h["ok"] for h in record["health"]} == {"api": True, "web": True}
    assert not lock_exists(environment, s3)

    result = ran.json()
    assert result["status"] == "succeeded" and result["release_id"] == record["release_id"]
    written = outputs.read_text()
    assert f"\n{record['release_id']}\n" in written
    assert f"\n{after['worker']}\n" in written and "api_task_definition<<" in written
    text = summary.read_text()
    assert "| service | before | after | image | result |" in text
    assert "| worker | agent-saas-sim-billing-worker:1 | agent-saas-sim-billing-worker:2 |" in text
    assert "**Migration:** exit code 0" in text and record["release_id"] in text
    assert "::group::migrate" in ran.err and "::endgroup::" in ran.err


def in_actions(monkeypatch, tmp_path):
    """GITHUB_ACTIONS=true with the runner's files in tmp_path; returns (outputs, summary)."""
    outputs, summary = tmp_path / "outputs", tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_OUTPUT", str(outputs))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    return outputs, summary


def test_a_failing_migration_touches_no_service(
    capsys, sandbox, environment, config, ecs, s3, tmp_path, monkeypatch
):
    outputs, summary = in_actions(monkeypatch, tmp_path)
    log_lines = [f"step {n}" for n in range(70)] + ["relation users already exists"]
    sandbox.policy(
        {
            "services": {"*": {"converge_seconds": 0.2}},
            "tasks": {
                "*": {
                    "exit_code": 3,
                    "run_seconds": 0.2,
                    "logs": log_lines,
                    "reason": "Essential container in task exited",
                }
            },
        }
    )
    before = running_task_definitions(environment, ecs)
    sandbox.reset_calls()

    ran = deploy(capsys, config, *images(environment, "v2"))

    assert ran.code == 1, ran.err
    assert running_task_definitions(environment, ecs) == before
    assert sandbox.calls().get("ecs.UpdateService", 0) == 0
    # The last 50 lines of the container's log stream, and the stop reason.
    assert "  | relation users already exists" in ran.err
    assert "  | step 21" in ran.err and "  | step 20\n" not in ran.err
    assert "Essential container in task exited" in ran.err
    [record] = records(environment, s3)
    assert record["status"] == "failed"
    assert record["migrate"]["exit_code"] == 3
    assert "migration failed (exit code 3)" in record["error"]
    assert not lock_exists(environment, s3)
    assert "::error title=shipline deploy failed::migration failed (exit code 3)" in ran.err
    assert "\nfailed\n" in outputs.read_text()
    text = summary.read_text()
    assert "**Migration:** exit code 3" in text and "relation users already exists" in text
    assert "not moved (migration failed)" in text


def test_an_unhealthy_web_rolls_back_api_web_and_worker_together(
    capsys, sandbox, environment, config, ecs, s3, tmp_path, monkeypatch
):
    _outputs, summary = in_actions(monkeypatch, tmp_path)
    sandbox.policy({"services": {"*": {"converge_seconds": 0.2, "unhealthy": "web:v4"}}})
    config = write_config(
        config.parent,
        environment,
        health={"timeout": 0.5, "interval": 0.1, "successes": 2, "request_timeout": 1},
    )
    before = running_task_definitions(environment, ecs)

    ran = deploy(capsys, config, *images(environment, "v4"))

    assert ran.code == 1, ran.err
    assert running_task_definitions(environment, ecs) == before
    [record] = records(environment, s3)
    assert record["status"] == "rolled_back"
    assert "web:" in record["error"] and "rolled back" in record["error"]
    # The record keeps the verification that failed the release.
    assert {h["service"]: h["ok"] for h in record["health"]} == {"api": True, "web": False}
    assert sandbox.calls()["ecs.UpdateService"] == 6  # three moved, three moved back
    text = summary.read_text()
    assert "FAILED and rolled back" in text
    assert (
        "**Rollback:** ` every moved service is back on its previous task definition "
        "(api healthy, web healthy) `"
    ) in text
    assert not lock_exists(environment, s3)


def test_a_rollout_the_circuit_breaker_rolled_back_is_a_failure_and_rolled_back(
    capsys, sandbox, environment, config, ecs, s3
):
    sandbox.policy({"services": {"*": {"converge_seconds": 0.2, "fail": "web:v3"}}})
    before = running_task_definitions(environment, ecs)

    ran = deploy(capsys, config, *images(environment, "v3"))

    assert ran.code == 1, ran.err
    assert "rollout FAILED" in ran.err
    assert running_task_definitions(environment, ecs) == before
    [record] = records(environment, s3)
    assert record["status"] == "rolled_back"
    assert "web: rollout FAILED" in record["error"]
    assert "went back to agent-saas-sim-web:1" in record["error"]


def test_a_failed_rollout_without_the_circuit_breakers_rollback_is_rolled_back_by_shipline(
    capsys, sandbox, environment, config, ecs, s3
):
    ecs.update_service(
        cluster=environment.cluster,
        service=environment.services["web"],
        deploymentConfiguration={
            "deploymentCircuitBreaker": {"enable": True, "rollback": False},
            "maximumPercent": 200,
            "minimumHealthyPercent": 100,
        },
    )
    sandbox.policy({"services": {"*": {"converge_seconds": 0.2, "fail": "web:v3"}}})
    before = running_task_definitions(environment, ecs)

    ran = deploy(capsys, config, *images(environment, "v3"))

    assert ran.code == 1, ran.err
    assert running_task_definitions(environment, ecs) == before
    [record] = records(environment, s3)
    assert record["status"] == "rolled_back"
    assert "web: rollout FAILED" in record["error"] and "went back" not in record["error"]


def test_a_rollback_that_fails_too_is_exit_3(capsys, sandbox, environment, config, ecs, s3):
    # v2 is unhealthy, and going back to v1 fails: a person must act.
    sandbox.policy(
        {"services": {"*": {"converge_seconds": 0.2, "unhealthy": "web:v2", "fail": ":v1"}}}
    )
    config = write_config(
        config.parent,
        environment,
        health={"timeout": 0.6, "interval": 0.1, "successes": 2, "request_timeout": 1},
    )

    ran = deploy(capsys, config, *images(environment, "v2"))

    assert ran.code == 3, ran.err
    [record] = records(environment, s3)
    assert record["status"] == "rollback_failed"
    assert "rollback failed" in record["error"]
    assert "next:" not in record["error"]  # the record says what happened, not what to do
    assert "next: run `shipline rollback -e sim`" in ran.err.splitlines()[-1]
    assert not lock_exists(environment, s3)


def test_no_rollback_leaves_the_services_moved_and_exits_3(
    capsys, sandbox, environment, config, ecs, s3
):
    sandbox.policy({"services": {"*": {"converge_seconds": 0.2, "unhealthy": "web:v2"}}})
    config = write_config(
        config.parent,
        environment,
        health={"timeout": 0.5, "interval": 0.1, "successes": 2, "request_timeout": 1},
    )

    ran = deploy(capsys, config, *images(environment, "v2"), "--no-rollback")

    assert ran.code == 3, ran.err
    assert "next: run `shipline rollback -e sim`" in ran.err.splitlines()[-1]
    assert all(arn.endswith(":2") for arn in running_task_definitions(environment, ecs).values())
    [record] = records(environment, s3)
    assert record["status"] == "failed" and "--no-rollback" in record["error"]
    assert sandbox.calls()["ecs.UpdateService"] == 3


def test_rollback_off_in_the_config_is_honoured(capsys, sandbox, environment, ecs, s3, tmp_path):
    sandbox.policy({"services": {"*": {"converge_seconds": 0.2, "fail": "web:v3"}}})
    ecs.update_service(
        cluster=environment.cluster,
        service=environment.services["web"],
        deploymentConfiguration={"deploymentCircuitBreaker": {"enable": True, "rollback": False}},
    )
    config = write_config(tmp_path, environment, rollback="off")

    ran = deploy(capsys, config, "--image", f"web={environment.image('web', 'v3')}")

    assert ran.code == 3, ran.err
    assert "rollback: off" in records(environment, s3)[0]["error"]


def test_a_task_definition_from_terraform_is_used_as_given(
    capsys, sandbox, environment, config, ecs, s3
):
    from support.sim_sandbox import register_revision

    given = register_revision(
        ecs, environment.task_definitions["api"], "api", environment.image("api", "tf7")
    )
    count = revision_count(environment, ecs)

    ran = deploy(capsys, config, "--task-definition", f"api={given}", "--no-migrate")

    assert ran.code == 0, ran.err
    running = running_task_definitions(environment, ecs)
    assert running["api"] == given
    assert running["worker"] == environment.task_definitions["worker"]  # not named: not moved
    assert revision_count(environment, ecs) == count  # nothing new registered
    [record] = records(environment, s3)
    assert record["services"]["api"]["task_definition"] == given
    assert record["images"] == {"api": environment.image("api", "tf7")}
    assert record["migrate"] == {"skipped": "asked with --no-migrate"}


def test_dry_run_prints_the_image_diff_and_changes_nothing(
    capsys, sandbox, environment, config, ecs, s3
):
    count = revision_count(environment, ecs)
    sandbox.reset_calls()

    ran = deploy(capsys, config, *images(environment, "v9"), "--dry-run")

    assert ran.code == 0, ran.err
    assert f"-  api: image {environment.image('api', 'v1')}" in ran.err
    assert f"+  api: image {environment.image('api', 'v9')}" in ran.err
    assert "DATABASE_URL" not in ran.err and "environment" not in ran.err.lower().split("sim")[0]
    assert revision_count(environment, ecs) == count
    assert records(environment, s3) == []
    assert sandbox.calls().get("ecs.RegisterTaskDefinition", 0) == 0


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["-e", "staging"], "unknown environment 'staging'"),
        (["--image", "api=ghcr.io/Acme/api:v2"], "malformed image reference"),
        (["--image", "billing=ghcr.io/acme/billing:v2"], "no service of environment 'sim' runs"),
        (["--image", "api=ghcr.io/acme/api:v2", "--skip-preflight", "nonsense"], "nonsense"),
    ],
)
def test_bad_input_is_refused_with_nothing_registered(
    capsys, sandbox, environment, config, ecs, s3, args, reason
):
    count = revision_count(environment, ecs)
    environment_args = [] if "-e" in args else ["-e", "sim"]
    ran = run_cli(capsys, "deploy", "--config", str(config), *environment_args, *args)
    assert ran.code == 2
    assert reason in ran.err and "Traceback" not in ran.err
    assert revision_count(environment, ecs) == count
    assert records(environment, s3) == []
    assert not lock_exists(environment, s3)


def test_a_cluster_that_does_not_exist_is_refused(capsys, sandbox, environment, ecs, s3, tmp_path):
    config = write_config(tmp_path, environment, cluster="agent-saas-nope")
    count = revision_count(environment, ecs)

    ran = deploy(capsys, config, *images(environment, "v2"))

    assert ran.code == 2, ran.err
    assert "cluster 'agent-saas-nope' does not exist or is not ACTIVE" in ran.err
    assert revision_count(environment, ecs) == count
    assert records(environment, s3) == []


def test_a_service_missing_from_the_cluster_is_refused(
    capsys, sandbox, environment, ecs, s3, tmp_path
):
    document_services = environment.shipline_config()["environments"]["sim"]["services"]
    document_services["web"]["service"] = "agent-saas-sim-nope"
    config = write_config(tmp_path, environment, services=document_services)
    count = revision_count(environment, ecs)

    ran = deploy(capsys, config, *images(environment, "v2"))

    assert ran.code == 2
    assert "service 'agent-saas-sim-nope' (web) is not in cluster" in ran.err
    assert revision_count(environment, ecs) == count
    assert records(environment, s3) == []


def test_an_inactive_service_is_refused(capsys, sandbox, environment, config, ecs, s3):
    ecs.update_service(
        cluster=environment.cluster, service=environment.services["web"], desiredCount=0
    )
    ecs.delete_service(cluster=environment.cluster, service=environment.services["web"])
    count = revision_count(environment, ecs)

    ran = deploy(capsys, config, *images(environment, "v2"))

    assert ran.code == 2, ran.err
    assert "(web)" in ran.err
    assert "not ACTIVE" in ran.err or "is not in cluster" in ran.err
    assert revision_count(environment, ecs) == count


def test_a_lock_held_by_another_release_refuses_the_deploy(
    capsys, sandbox, environment, config, ecs, s3
):
    from shipline.config import load_config
    from shipline.release.store import Lock

    lock = Lock(load_config(config).environment("sim"))
    lock.acquire("20261126T070000Z-abcdef", "someone@elsewhere", None, 600)
    count = revision_count(environment, ecs)

    ran = deploy(capsys, config, *images(environment, "v2"))

    assert ran.code == 2
    assert "locked by release 20261126T070000Z-abcdef by someone@elsewhere" in ran.err
    assert revision_count(environment, ecs) == count
    assert records(environment, s3) == []
    assert lock.status().release_id == "20261126T070000Z-abcdef"


def test_secret_looking_plain_values_are_masked_in_actions(
    capsys, sandbox, environment, config, ecs, s3, tmp_path, monkeypatch
):
    in_actions(monkeypatch, tmp_path)
    secret = "s3cr3t-session-value-42"
    leaky = register_variant(
        ecs,
        environment.task_definitions["api"],
        lambda container: container["environment"].append(
            {"name": "SESSION_SECRET", "value": secret}
        ),
    )

    ran = deploy(
        capsys,
        config,
        "--task-definition",
        f"api={leaky}",
        "--dry-run",
        "--skip-preflight",
        "plaintext-secrets",
        "--skip-preflight",
        "env-rules",
    )

    assert ran.code == 0, ran.err
    assert f"::add-mask::{secret}" in ran.err
    assert ran.err.count(secret) == 1, "the value may appear only in its mask command"

    refused = deploy(capsys, config, "--task-definition", f"api={leaky}", "--dry-run")
    assert refused.code == 2
    assert "plaintext-secrets" in refused.err and "SESSION_SECRET" in refused.err
    assert secret not in refused.err.replace(f"::add-mask::{secret}", "")


def test_the_wait_timeout_is_a_failure_never_a_success(
    capsys, sandbox, environment, ecs, s3, tmp_path
):
    sandbox.policy(
        {
            "services": {
                "*": {"converge_seconds": 0.2},
                environment.services["web"]: {"converge_seconds": 30},
            }
        }
    )
    config = write_config(tmp_path, environment, wait={"timeout": 0.6, "poll": 0.1})

    ran = deploy(capsys, config, *images(environment, "v2"), "--no-rollback", "--no-migrate")

    assert ran.code == 3, ran.err
    [record] = records(environment, s3)
    assert record["status"] == "failed"
    assert "web: timed out after 0.6s" in record["error"]


def test_an_unreachable_history_is_refused_before_any_change(
    capsys, sandbox, environment, ecs, tmp_path
):
    config = write_config(tmp_path, environment, history="s3://no-such-bucket/releases")
    count = revision_count(environment, ecs)

    ran = deploy(capsys, config, *images(environment, "v2"))

    assert ran.code == 2
    assert "release history s3://no-such-bucket/releases/sim/ is not reachable" in ran.err
    assert revision_count(environment, ecs) == count


def test_aws_that_does_not_answer_is_a_refusal(capsys, tmp_path, monkeypatch):
    from shipline import aws

    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setattr(aws, "MAX_ATTEMPTS", 1)
    aws.client.cache_clear()
    config = tmp_path / "shipline.yml"
    config.write_text(
        "version: 1\n"
        "environments:\n"
        "  sim:\n"
        "    region: us-east-1\n"
        "    cluster: agent-saas\n"
        "    history: s3://releases/shipline\n"
        "    services:\n"
        "      api: {}\n"
    )
    ran = deploy(
        capsys, config, "--image", "api=ghcr.io/acme/api:v2", "--skip-preflight", "image-digests"
    )
    aws.client.cache_clear()
    assert ran.code == 2
    assert "AWS endpoint http://127.0.0.1:9 is unreachable" in ran.err
    assert "Traceback" not in ran.err


def test_an_image_missing_from_its_registry_is_refused_with_nothing_registered(
    capsys, sandbox, environment, config, ecs, s3, tmp_path, monkeypatch
):
    _, summary = in_actions(monkeypatch, tmp_path)
    missing = environment.images["web"].rsplit(":", 1)[0] + ":never-pushed"
    count = revision_count(environment, ecs)

    ran = deploy(capsys, config, "--image", f"web={missing}")

    assert ran.code == 2
    assert f"{missing}: no such image in ECR" in ran.err
    last = ran.err.splitlines()[-1]
    # The tag is checked first; skipping the safety check is the last resort.
    assert f"check the tag: `shipline images resolve web={missing}`" in last
    assert last.index("images resolve") < last.index("--skip-preflight image-digests")
    assert revision_count(environment, ecs) == count
    assert records(environment, s3) == [] and not lock_exists(environment, s3)

    # Skipping the check on purpose deploys the tag as given, and says so.
    ran = deploy(capsys, config, "--image", f"web={missing}", "--skip-preflight", "image-digests")
    assert ran.code == 0, ran.err
    assert "image-digests skipped on purpose" in ran.err
    assert image_of(ecs, running_task_definitions(environment, ecs)["web"], "web") == missing
    assert "**Preflight checks skipped on purpose:** `image-digests`" in summary.read_text()


def without_secret(name):
    def change(container):
        container["secrets"] = [s for s in container["secrets"] if s["name"] != name]

    return change


@pytest.mark.parametrize(
    ("change", "check", "reason"),
    [
        (
            lambda container: (
                without_secret("DATABASE_URL")(container),
                container["environment"].append(
                    {"name": "DATABASE_URL", "value": "postgres://app:pw@db:5432/app"}
                ),
            ),
            "plaintext-secrets",
            "DATABASE_URL",
        ),
        (
            lambda container: container["secrets"].append(
                {
                    "name": "EXTRA_TOKEN",
                    "valueFrom": "arn:aws:secretsmanager:us-east-1:123456789012:secret:gone-AbCdEf",
                }
            ),
            "secret-refs",
            "gone-AbCdEf",
        ),
        (
            lambda container: [
                item.update(value="true")
                for item in container["environment"]
                if item["name"] == "ENABLE_BILLING_RETRY_WORKER"
            ],
            "billing-topology",
            "ENABLE_BILLING_RETRY_WORKER",
        ),
    ],
    ids=["plaintext-database-url", "missing-secret", "billing-topology"],
)
def test_the_security_preflight_refuses_with_nothing_registered(
    capsys, sandbox, environment, config, ecs, s3, change, check, reason
):
    variant = register_variant(ecs, environment.task_definitions["api"], change)
    count = revision_count(environment, ecs)

    ran = deploy(capsys, config, "--task-definition", f"api={variant}")

    assert ran.code == 2, ran.err
    assert check in ran.err and reason in ran.err
    assert "postgres://app:pw@" not in ran.err
    assert revision_count(environment, ecs) == count
    assert records(environment, s3) == [] and not lock_exists(environment, s3)
    assert running_task_definitions(environment, ecs)["api"] == environment.task_definitions["api"]
