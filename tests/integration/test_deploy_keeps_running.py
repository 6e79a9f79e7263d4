"""An empty image keeps what runs now (issue: an empty image input downgraded services on the
Terraform path), against the sandbox: `shipline images running` reads what to keep, and a
deploy leaves alone every service already on the task definition it is given, saying why."""

from __future__ import annotations

import pytest

from support.deploy_support import (
    image_of,
    records,
    register_variant,
    run_cli,
    running_task_definitions,
    write_config,
)


@pytest.fixture
def config(tmp_path, environment):
    return write_config(tmp_path, environment)


def test_images_running_names_the_image_each_key_runs_now(
    capsys, sandbox, environment, config, ecs
):
    live = running_task_definitions(environment, ecs)

    ran = run_cli(capsys, "images", "running", "-e", "sim", "--config", str(config))

    assert ran.code == 0, ran.err
    assert ran.out.splitlines() == [
        f"api={image_of(ecs, live['api'], 'api')}",
        f"web={image_of(ecs, live['web'], 'web')}",
    ]


def test_images_running_leaves_a_key_no_service_runs_to_the_var_files(
    capsys, sandbox, environment, config, ecs
):
    ecs.delete_service(cluster=environment.cluster, service=environment.services["web"], force=True)

    ran = run_cli(capsys, "images", "running", "-e", "sim", "--config", str(config), "--json")

    assert ran.code == 0, ran.err
    assert set(ran.json()["images"]) == {"api"}
    assert (
        "image web: no service runs it yet (first deploy): the var files' image stands" in ran.err
    )


def test_a_deploy_leaves_alone_services_already_on_their_task_definition_and_says_why(
    capsys, sandbox, environment, config, ecs, tmp_path, monkeypatch
):
    """Terraform with the running images registers identical task definitions (same revision):
    the deploy moves only the service whose configuration changed, with the same image."""
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path / "outputs"))
    live = running_task_definitions(environment, ecs)
    web_image = image_of(ecs, live["web"], "web")
    changed_web = register_variant(
        ecs, live["web"], lambda c: c["environment"].append({"name": "FEATURE", "value": "on"})
    )

    ran = run_cli(
        capsys,
        "deploy",
        "--config",
        str(config),
        "-e",
        "sim",
        "--task-definition",
        f"api={live['api']}",
        "--task-definition",
        f"worker={live['worker']}",
        "--task-definition",
        f"web={changed_web}",
        "--json",
    )

    assert ran.code == 0, ran.err
    result = ran.json()
    assert result["left_alone"] == {
        "api": "already running that task definition",
        "worker": "already running that task definition",
    }
    assert set(result["services"]) == {"web"}
    after = running_task_definitions(environment, ecs)
    assert after["api"] == live["api"] and after["worker"] == live["worker"]
    assert after["web"] == changed_web and image_of(ecs, after["web"], "web") == web_image
    text = summary.read_text()
    assert "left alone: already running that task definition" in text
    [record] = records(environment, sandbox.client("s3"))
    assert set(record["services"]) == {"web"}


def test_a_deploy_of_images_says_which_services_no_image_was_given_for(
    capsys, sandbox, environment, config, ecs
):
    ran = run_cli(
        capsys,
        "deploy",
        "--config",
        str(config),
        "-e",
        "sim",
        "--image",
        f"web={environment.image('web', 'v2')}",
        "--json",
    )

    assert ran.code == 0, ran.err
    assert ran.json()["left_alone"] == {
        "api": "no image or task definition given",
        "worker": "no image or task definition given",
    }
    assert "api: left alone (no image or task definition given)" in ran.err


def test_a_deploy_where_every_service_is_already_there_moves_nothing_and_is_not_live(
    capsys, sandbox, environment, config, ecs
):
    live = running_task_definitions(environment, ecs)
    args = [
        a for key in ("api", "web", "worker") for a in ("--task-definition", f"{key}={live[key]}")
    ]

    ran = run_cli(capsys, "deploy", "--config", str(config), "-e", "sim", *args, "--json")

    assert ran.code == 0, ran.err
    assert ran.json()["services"] == {}
    assert running_task_definitions(environment, ecs) == live
    [record] = records(environment, sandbox.client("s3"))
    assert record["status"] == "succeeded" and record["services"] == {}
