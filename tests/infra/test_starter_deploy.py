"""The starter example deploys onto the blueprint: its shipline.yml, in a sandbox seeded with the
names the blueprint's outputs give (terraform.tfvars.example), as deploy.yml runs it after
Terraform (`--task-definition KEY=ARN` for every task definition Terraform registered)."""

from __future__ import annotations

import json

import yaml

from shipline.cli import main
from shipline.sim.seed import SERVICE_KEYS, seed_environment
from support.infra import infra_rules as rules
from support.infra.blueprint_outputs import terraform_outputs, tfvars

STARTER = rules.REPO / "examples" / "starter" / "shipline.yml"
ACCOUNT = "123456789012"  # the account of every ARN in terraform.tfvars.example


def seeded_from_blueprint(sandbox):
    """The sandbox seeded with the cluster, service and bucket names of the blueprint."""
    outputs = {name: entry["value"] for name, entry in terraform_outputs(tfvars(), ACCOUNT).items()}
    assert outputs["region"] == sandbox.region
    return seed_environment(
        sandbox.url,
        region=outputs["region"],
        name=outputs["cluster_name"],
        cluster=outputs["cluster_name"],
        service_names={key: outputs[f"{key}_service_name"] for key in SERVICE_KEYS},
        history_bucket=outputs["history_bucket"],
    )


def starter_config(tmp_path, seeded):
    """The example's shipline.yml as it is, but for what only a real account has: its health
    URLs become the sandbox's endpoints for the same services, and waits are sandbox-short."""
    document = yaml.safe_load(STARTER.read_text())
    environment = document["environments"]["production"]
    for key, service in environment["services"].items():
        if "health" in service:
            service["health"] = seeded.health_url(key)
    environment["wait"] = {"timeout": 60, "poll": 0.1}
    environment["health"] = {"timeout": 20, "interval": 0.1, "successes": 2}
    path = tmp_path / "shipline.yml"
    path.write_text(yaml.safe_dump(document))
    return path


def test_the_starter_example_deploys_onto_the_blueprint_migration_included(
    capsys, sandbox, tmp_path
):
    seeded = seeded_from_blueprint(sandbox)
    config = starter_config(tmp_path, seeded)
    # What Terraform registered: a new revision of every service's task definition.
    registered = {key: seeded.register_image(key, "v2") for key in SERVICE_KEYS}
    arguments = [f"--task-definition={key}={arn}" for key, arn in registered.items()]

    capsys.readouterr()
    code = main(["deploy", "--config", str(config), "-e", "production", *arguments, "--json"])
    captured = capsys.readouterr()

    assert code == 0, captured.err
    result = json.loads(captured.out)
    assert result["status"] == "succeeded"
    assert {key: entry["after"] for key, entry in result["services"].items()} == registered
    ecs = sandbox.client("ecs")
    described = ecs.describe_services(
        cluster=seeded.cluster, services=list(seeded.services.values())
    )["services"]
    assert {s["serviceName"]: s["taskDefinition"] for s in described} == {
        seeded.services[key]: arn for key, arn in registered.items()
    }
    # The migration ran the API's new task definition with the hosting guide's command.
    migrate = result["migrate"]
    assert migrate["exit_code"] == 0 and migrate["task_definition"] == registered["api"]
    [task] = ecs.describe_tasks(cluster=seeded.cluster, tasks=[migrate["task_arn"]])["tasks"]
    [override] = task["overrides"]["containerOverrides"]
    assert override == {"name": "api", "command": ["starter-console", "release", "db"]}
