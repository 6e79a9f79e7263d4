"""`shipline rollback` against the sandbox: walking back, --to, re-registering, scale-to-zero."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys

import pytest
import yaml

from shipline import aws, cli
from shipline.config import load_config
from shipline.release.plan import render_task_definition
from shipline.release.records import ReleaseRecord, ServiceRecord, new_release_id
from shipline.release.store import History, Lock
from support.sim_sandbox import register_revision, wait_for

ENV = "sim"


@pytest.fixture
def setup(environment, tmp_path):
    """The seeded environment, its shipline.yml, and its release history."""
    document = environment.shipline_config(ENV)
    # A failing health check gives up after 3 s instead of the seeded 20 s.
    document["environments"][ENV]["health"]["timeout"] = 3
    path = tmp_path / "shipline.yml"
    path.write_text(yaml.safe_dump(document))
    env = load_config(path).environment(ENV)
    return environment, str(path), env


def ecs():
    return aws.client("ecs")


def running(seeded) -> dict[str, tuple[str, int, int]]:
    """Service key -> (task definition, desired, running) as ECS says now."""
    answer = ecs().describe_services(
        cluster=seeded.cluster, services=list(seeded.services.values())
    )
    by_name = {s["serviceName"]: s for s in answer["services"]}
    return {
        key: (
            by_name[name]["taskDefinition"],
            by_name[name]["desiredCount"],
            by_name[name]["runningCount"],
        )
        for key, name in seeded.services.items()
    }


def settled(seeded) -> dict[str, tuple[str, int, int]] | None:
    answer = ecs().describe_services(
        cluster=seeded.cluster, services=list(seeded.services.values())
    )
    for service in answer["services"]:
        deployments = service["deployments"]
        if len(deployments) != 1 or deployments[0].get("rolloutState") != "COMPLETED":
            return None
        if service["runningCount"] != service["desiredCount"]:
            return None
    return running(seeded)


def deploy(seeded, env, tag: str, keys=("api", "web", "worker")) -> ReleaseRecord:
    """A release as `shipline deploy` leaves it: new revisions, services moved, a record."""
    client = ecs()
    before = running(seeded)
    record = ReleaseRecord(release_id=new_release_id(), environment=ENV, images={})
    for key in keys:
        image = seeded.image("api" if key == "worker" else key, tag)
        arn = register_revision(client, before[key][0], seeded.containers[key], image)
        described = client.describe_task_definition(taskDefinition=arn, include=["TAGS"])
        record.images["api" if key == "worker" else key] = image
        record.services[key] = ServiceRecord(
            service=seeded.services[key],
            task_definition=arn,
            previous_task_definition=before[key][0],
            desired_count=before[key][1],
            task_definition_content=render_task_definition(
                described, seeded.containers[key], image
            ),
        )
        client.update_service(
            cluster=seeded.cluster, service=seeded.services[key], taskDefinition=arn
        )
    wait_for(lambda: settled(seeded))
    record.finish("succeeded")
    History(env).create(record)
    return record


def shipline(config: str, *argv: str) -> int:
    return cli.main([*argv, "-e", ENV, "--config", config])


def newest(env) -> ReleaseRecord:
    return History(env).list(limit=1)[0]


def test_rollback_twice_walks_back_twice(setup, capsys):
    seeded, config, env = setup
    r1 = deploy(seeded, env, "v2")
    r2 = deploy(seeded, env, "v3")
    deploy(seeded, env, "v4", keys=("api", "web"))  # a release that moved two services

    assert shipline(config, "rollback") == 0
    first = newest(env)
    assert (first.kind, first.status, first.rolled_back_to) == (
        "rollback",
        "succeeded",
        r2.release_id,
    )
    now = running(seeded)
    assert {key: now[key][0] for key in now} == r2.task_definitions
    assert all(desired == count == 2 for _, desired, count in now.values())
    assert {h.service for h in first.health} == {"api", "web"}
    assert all(h.ok for h in first.health)

    assert shipline(config, "rollback") == 0
    second = newest(env)
    assert second.rolled_back_to == r1.release_id
    now = running(seeded)
    assert {key: now[key][0] for key in now} == r1.task_definitions

    # The history says what happened, newest first, and every record fits the schema.
    kinds = [(r.kind, r.rolled_back_to) for r in History(env).list()]
    assert kinds[:2] == [("rollback", r1.release_id), ("rollback", r2.release_id)]
    assert Lock(env).status() is None
    capsys.readouterr()


def test_rollback_to_names_the_release(setup):
    seeded, config, env = setup
    r1 = deploy(seeded, env, "v2")
    deploy(seeded, env, "v3")
    deploy(seeded, env, "v4")
    assert shipline(config, "rollback", "--to", r1.release_id) == 0
    assert newest(env).rolled_back_to == r1.release_id
    now = running(seeded)
    assert {key: now[key][0] for key in now} == r1.task_definitions


def test_rollback_to_an_unknown_release_is_refused_and_changes_nothing(setup, capsys):
    seeded, config, env = setup
    deploy(seeded, env, "v2")
    deploy(seeded, env, "v3")
    before = running(seeded)
    count = len(History(env).list())
    assert shipline(config, "rollback", "--to", "20200101T000000Z-000000") == 2
    assert "no release 20200101T000000Z-000000" in capsys.readouterr().err
    assert running(seeded) == before
    assert len(History(env).list()) == count
    assert Lock(env).status() is None


def test_nothing_to_roll_back_to_is_refused(setup, capsys):
    seeded, config, env = setup
    deploy(seeded, env, "v2")
    assert shipline(config, "rollback") == 2
    assert "nothing to roll back to" in capsys.readouterr().err


def test_a_held_lock_refuses_the_rollback_naming_holder_and_release(
    setup, capsys, tmp_path, monkeypatch
):
    seeded, config, env = setup
    deploy(seeded, env, "v2")
    deploy(seeded, env, "v3")
    before = running(seeded)
    holder = new_release_id()
    Lock(env).acquire(holder, holder="octocat@runner-7", ttl_seconds=600)
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path / "output"))
    assert shipline(config, "rollback") == 2
    error = capsys.readouterr().err
    assert holder in error
    assert "octocat@runner-7" in error
    assert "::error title=shipline rollback refused::" in error
    assert "status<<" in (tmp_path / "output").read_text()
    assert "\nrefused\n" in (tmp_path / "output").read_text()
    assert running(seeded) == before
    assert [r.kind for r in History(env).list()] == ["deploy", "deploy"]
    assert Lock(env).status().release_id == holder


def test_a_deregistered_task_definition_is_registered_again(setup):
    seeded, config, env = setup
    r1 = deploy(seeded, env, "v2")
    deploy(seeded, env, "v3")
    client = ecs()
    client.deregister_task_definition(taskDefinition=r1.services["api"].task_definition)
    # web's revision is gone altogether: only the record's copy can bring it back.
    client.deregister_task_definition(taskDefinition=r1.services["web"].task_definition)
    client.delete_task_definitions(taskDefinitions=[r1.services["web"].task_definition])

    assert shipline(config, "rollback") == 0
    record = newest(env)
    for key in ("api", "web"):
        entry = record.services[key]
        assert entry.registered_from == r1.services[key].task_definition
        assert entry.task_definition != entry.registered_from
        copy = client.describe_task_definition(taskDefinition=entry.task_definition)
        image = next(
            c["image"]
            for c in copy["taskDefinition"]["containerDefinitions"]
            if c["name"] == seeded.containers[key]
        )
        assert image == seeded.image(key, "v2")
    assert record.services["worker"].registered_from is None
    now = running(seeded)
    assert {key: now[key][0] for key in now} == record.task_definitions

    # The copy counts as that release: the next rollback walks on instead of repeating it.
    assert shipline(config, "rollback") == 2


def test_scale_to_zero_stops_every_service_and_a_rollback_brings_them_back(setup, capsys):
    seeded, config, env = setup
    r1 = deploy(seeded, env, "v2")
    r2 = deploy(seeded, env, "v3")

    assert shipline(config, "rollback", "--scale-to-zero", "--json") == 0
    result = json.loads(capsys.readouterr().out)
    assert result["kind"] == "scale-to-zero"
    assert result["status"] == "succeeded"
    assert all(entry["desired_count"] == 0 for entry in result["services"].values())
    assert all(entry["previous_desired_count"] == 2 for entry in result["services"].values())
    now = running(seeded)
    assert all(desired == count == 0 for _, desired, count in now.values())
    assert {key: now[key][0] for key in now} == r2.task_definitions

    # The live release is still r2; its predecessor comes back with its recorded task counts.
    assert shipline(config, "rollback") == 0
    assert newest(env).rolled_back_to == r1.release_id
    now = running(seeded)
    assert {key: now[key][0] for key in now} == r1.task_definitions
    assert all(desired == count == 2 for _, desired, count in now.values())


def test_scale_to_zero_then_the_live_release_by_name_restarts_it(setup):
    seeded, config, env = setup
    deploy(seeded, env, "v2")
    r2 = deploy(seeded, env, "v3")
    assert shipline(config, "rollback", "--scale-to-zero") == 0
    assert shipline(config, "rollback", "--to", r2.release_id) == 0
    now = running(seeded)
    assert {key: now[key][0] for key in now} == r2.task_definitions
    assert all(desired == count == 2 for _, desired, count in now.values())


def test_an_unhealthy_target_is_a_failed_rollback_exit_3(setup, sandbox, capsys):
    seeded, config, env = setup
    deploy(seeded, env, "v2")
    deploy(seeded, env, "v3")
    sandbox.policy(
        {
            "services": {
                "*": {"converge_seconds": 0.2},
                seeded.services["web"]: {"unhealthy": "web:v2"},
            },
            "tasks": {"*": {"run_seconds": 0.2}},
        }
    )
    assert shipline(config, "rollback") == 3
    record = newest(env)
    assert (record.kind, record.status) == ("rollback", "failed")
    assert "web" in (record.error or "")
    assert [h.ok for h in record.health if h.service == "web"] == [False]
    assert Lock(env).status() is None
    err = capsys.readouterr().err
    assert "unhealthy" in err
    last = err.splitlines()[-1]  # ends with the next step
    assert f"next: `shipline rollback -e {ENV} --to RELEASE_ID` to a release you trust" in last
    assert f"`shipline rollback -e {ENV} --scale-to-zero`" in last


def test_inside_github_actions_outputs_and_summary_are_written(setup, tmp_path, monkeypatch):
    seeded, config, env = setup
    r1 = deploy(seeded, env, "v2")
    deploy(seeded, env, "v3")
    output, summary = tmp_path / "output", tmp_path / "summary"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("GITHUB_ACTOR", "octocat")
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/app")
    monkeypatch.setenv("GITHUB_RUN_ID", "99")
    assert shipline(config, "rollback") == 0
    record = newest(env)
    assert record.actor == "octocat"
    assert record.run_url == "https://github.com/acme/app/actions/runs/99"
    text = output.read_text()
    for name, value in {
        "release_id": record.release_id,
        "status": "succeeded",
        "rolled_back_to": r1.release_id,
        "api_task_definition": r1.services["api"].task_definition,
    }.items():
        assert f"{name}<<" in text
        assert f"\n{value}\n" in text
    markdown = summary.read_text()
    assert f"Rollback of {ENV} to {r1.release_id}: succeeded" in markdown
    assert "| service | before | after | tasks | result |" in markdown
    assert record.release_id in markdown


def test_a_stop_signal_while_waiting_records_interrupted_and_unlocks(setup, sandbox):
    seeded, config, env = setup
    r1 = deploy(seeded, env, "v2")
    deploy(seeded, env, "v3")
    sandbox.policy(
        {"services": {"*": {"converge_seconds": 60}}, "tasks": {"*": {"run_seconds": 0.2}}}
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "shipline", "rollback", "-e", ENV, "--config", config],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=os.environ.copy(),
    )
    try:
        # Interrupt once the services are moving towards the target.
        wait_for(lambda: running(seeded)["api"][0] == r1.services["api"].task_definition, 20)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 3, stderr.decode()
    record = newest(env)
    assert (record.kind, record.status) == ("rollback", "interrupted")
    assert "SIGTERM" in (record.error or "")
    assert Lock(env).status() is None


def test_services_left_half_moved_go_back_to_the_live_release_first(setup, capsys):
    seeded, config, env = setup
    deploy(seeded, env, "v2")
    r2 = deploy(seeded, env, "v3")
    broken = deploy(seeded, env, "v4", keys=("web",))
    # That deploy's automatic rollback failed: its record says so, web still runs v4.
    history = History(env)
    broken = history.get(broken.release_id)
    broken.finish("rollback_failed", error="web did not go back")
    history.update(broken)

    assert shipline(config, "rollback") == 0
    assert newest(env).rolled_back_to == r2.release_id
    now = running(seeded)
    assert {key: now[key][0] for key in now} == r2.task_definitions
    assert "returning to that release first" in capsys.readouterr().err


def test_rollback_after_real_deploys_returns_to_the_first_one(setup, capsys):
    seeded, config, env = setup
    for tag in ("v2", "v3"):
        argv = ["deploy", "--image", f"api={seeded.image('api', tag)}"]
        argv += ["--image", f"web={seeded.image('web', tag)}"]
        assert shipline(config, *argv) == 0, capsys.readouterr().err
    first, second = sorted(History(env).list(), key=lambda r: r.release_id)
    assert first.services["api"].task_definition_content is not None

    assert shipline(config, "rollback") == 0
    assert newest(env).rolled_back_to == first.release_id
    now = running(seeded)
    assert {key: now[key][0] for key in now} == first.task_definitions
    assert second.release_id not in {r.rolled_back_to for r in History(env).list()}


def test_a_target_image_deleted_from_ecr_refuses_the_rollback_before_any_change(setup, capsys):
    seeded, config, env = setup
    for tag in ("v2", "v3"):
        argv = ["deploy", "--image", f"api={seeded.image('api', tag)}"]
        argv += ["--image", f"web={seeded.image('web', tag)}"]
        assert shipline(config, *argv) == 0, capsys.readouterr().err
    first = min(History(env).list(), key=lambda r: r.release_id)
    gone = first.images["api"]  # repo:v2@sha256:..., the image api and worker ran
    uri, digest = gone.rsplit("@", 1)[0].rsplit(":", 1)[0], gone.rsplit("@", 1)[1]
    repository = uri.split("/", 1)[1]
    deleted = aws.client("ecr").batch_delete_image(
        repositoryName=repository, imageIds=[{"imageDigest": digest}]
    )
    assert deleted["failures"] == []
    before = running(seeded)
    kept = [(r.release_id, r.status) for r in History(env).list()]
    capsys.readouterr()

    assert shipline(config, "rollback") == 2
    err = capsys.readouterr().err
    error = [line for line in err.splitlines() if line.startswith("shipline: error: ")]
    assert len(error) == 1, err
    assert f"api, worker: {uri}@{digest}: no such image in ECR" in error[0]
    assert seeded.image("web", "v2") not in error[0]  # web's image is still there
    assert running(seeded) == before
    assert [(r.release_id, r.status) for r in History(env).list()] == kept
    assert Lock(env).status() is None


def test_an_image_that_cannot_be_looked_up_is_noted_and_the_rollback_goes_on(setup, capsys):
    # A registry that does not answer proves nothing is gone (ECS pulls with its own role):
    # the rollback is not held up by it.
    seeded, config, env = setup
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"127.0.0.1:{probe.getsockname()[1]}"
    client = ecs()
    before = running(seeded)
    unreachable = f"{closed}/acme/web:v2@sha256:{'1' * 64}"
    arn = register_revision(client, before["web"][0], seeded.containers["web"], unreachable)
    record = ReleaseRecord(
        release_id=new_release_id(), environment=ENV, images={"web": unreachable}
    )
    record.services["web"] = ServiceRecord(
        service=seeded.services["web"],
        task_definition=arn,
        previous_task_definition=before["web"][0],
        desired_count=before["web"][1],
    )
    client.update_service(
        cluster=seeded.cluster, service=seeded.services["web"], taskDefinition=arn
    )
    wait_for(lambda: settled(seeded))
    record.finish("succeeded")
    History(env).create(record)
    deploy(seeded, env, "v3")
    capsys.readouterr()

    assert shipline(config, "rollback") == 0
    assert f"note: could not check the image of web: cannot reach registry {closed}" in (
        capsys.readouterr().err
    )
    assert running(seeded)["web"][0] == arn
