"""The starter example and the blueprint are one pair.

The example's environment is what `shipline config from-terraform` writes from the blueprint's
outputs, evaluated offline for terraform.tfvars.example (blueprint_outputs.py); the settings the
mapping fixes (containers, image keys, service keys) are what ecs.tf gives each service. A name
changed in the .tf files, or in the example, fails here.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from shipline import config as shipline_config
from shipline.cli import main
from shipline.config import load_config
from support.infra import infra_rules as rules
from support.infra.blueprint_outputs import rendered_blueprint, terraform_outputs, tfvars

STARTER = rules.REPO / "examples" / "starter" / "shipline.yml"
ACCOUNT = "123456789012"  # the account of every ARN in terraform.tfvars.example
# What the example may add to the generated environment: timings and the rollback switch.
EXAMPLE_EXTRAS = {"wait", "health", "rollback"}
MIGRATE_COMMAND = ["starter-console", "release", "db"]  # the hosting guide's "Migrations"


def from_terraform(capsys, tmp_path: Path, **inputs) -> tuple[int, dict, str]:
    outputs = tmp_path / "outputs.json"
    variables = {**tfvars(), **inputs}
    outputs.write_text(json.dumps(terraform_outputs(variables, ACCOUNT)))
    capsys.readouterr()
    code = main(
        ["config", "from-terraform", "--outputs", str(outputs), "-e", "production", "--json"]
    )
    captured = capsys.readouterr()
    return code, json.loads(captured.out) if captured.out else {}, captured.err


def test_the_starter_environment_is_what_config_from_terraform_writes_for_the_blueprint(
    capsys, tmp_path
):
    code, generated, err = from_terraform(capsys, tmp_path)
    assert code == 0, err
    expected = generated["environments"]["production"]
    example = yaml.safe_load(STARTER.read_text())["environments"]["production"]

    assert set(example) - set(expected) <= EXAMPLE_EXTRAS
    assert {key: example.get(key) for key in expected} == expected
    # The blueprint's names, as ecs.tf and main.tf make them from project and environment.
    assert expected["cluster"] == "agent-saas-production"
    assert expected["services"]["worker"]["service"] == "agent-saas-production-billing-worker"
    assert expected["migrate"] == {"service": "api", "command": MIGRATE_COMMAND}


def test_the_starter_config_is_valid_and_says_how_it_migrates():
    config = load_config(STARTER, env={})
    assert shipline_config.config_warnings(config) == []
    production = config.environment("production")
    assert production.migrate is not None and production.migrate.service == "api"
    # Terraform registers a task definition per service; the example can deploy every one.
    assert set(production.services) == {"api", "web", "worker"}


def test_the_mapping_fixes_the_containers_and_images_ecs_tf_gives_each_service():
    variables = tfvars()
    services = rendered_blueprint(variables, ACCOUNT).local("all_services")
    from shipline.configmap import load_mapping

    mapping = load_mapping()["services"]
    assert set(mapping) == set(services)
    for key, spec in mapping.items():
        assert spec["container"] == services[key]["container"], key
        assert services[key]["image"] == variables[f"{spec['image']}_image"], key


def test_every_task_definition_terraform_outputs_has_a_service_key():
    # terraform-apply passes `<key>_task_definition_arn` outputs as `deploy --task-definition`.
    blueprint = rules.load(rules.BLUEPRINT)
    keys = {
        name.removesuffix("_task_definition_arn")
        for name in blueprint.outputs
        if name.endswith("_task_definition_arn")
    }
    from shipline.configmap import load_mapping

    assert keys == set(load_mapping()["services"])


def test_without_the_billing_worker_the_environment_has_no_worker(capsys, tmp_path):
    code, generated, err = from_terraform(
        capsys, tmp_path, enable_billing_worker=False, api_desired_count=1
    )
    assert code == 0, err
    assert set(generated["environments"]["production"]["services"]) == {"api", "web"}
    assert "worker: left out (output worker_service_name is null: not created)" in err


@pytest.mark.parametrize(
    ("inputs", "api", "web"),
    [
        (
            {"api_base_url": "https://edge.example.org/api"},
            "https://edge.example.org/api/health/ready",
            "https://app.example.com/api/health/ready",
        ),
        (
            {"app_public_url": "https://www.example.org"},
            "https://api.example.com/health/ready",
            "https://www.example.org/api/health/ready",
        ),
    ],
)
def test_health_urls_follow_the_url_inputs_as_env_from_terraform_maps_them(
    capsys, tmp_path, inputs, api, web
):
    code, generated, err = from_terraform(capsys, tmp_path, **inputs)
    assert code == 0, err
    services = generated["environments"]["production"]["services"]
    assert (services["api"]["health"], services["web"]["health"]) == (api, web)


def test_the_starter_api_image_has_the_migration_command_the_example_runs():
    command = yaml.safe_load(STARTER.read_text())["environments"]["production"]["migrate"]
    program, *arguments = command["command"]
    dockerfile = (STARTER.parent / "api" / "Dockerfile").read_text()
    assert f"COPY {program} /usr/local/bin/{program}" in dockerfile  # on the image's PATH

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(STARTER.parent / program), *args],
            capture_output=True,
            text=True,
            env={"APP_VERSION": "1.2.3"},
            check=False,
        )

    migrated = run(*arguments)
    assert migrated.returncode == 0, migrated.stderr
    assert migrated.stdout == "release db: starter 1.2.3: no migrations to apply\n"
    assert run("release", "everything").returncode == 2
