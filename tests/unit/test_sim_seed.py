"""The seeded environment's shipline.yml follows the config contract (no server)."""

from __future__ import annotations

import yaml

from shipline.config import load_config
from shipline.sim.seed import SeededEnvironment

ENDPOINT = "http://127.0.0.1:4566"


def seeded() -> SeededEnvironment:
    services = {"api": "demo-api", "web": "demo-web", "worker": "demo-billing-worker"}
    registry = "123456789012.dkr.ecr.us-east-1.amazonaws.com/agent-saas"
    return SeededEnvironment(
        endpoint_url=ENDPOINT,
        region="us-east-1",
        name="demo",
        account_id="123456789012",
        vpc_id="vpc-1",
        subnet_ids=("subnet-a", "subnet-b"),
        security_group_id="sg-1",
        cluster="demo",
        cluster_arn="arn:aws:ecs:us-east-1:123456789012:cluster/demo",
        services=services,
        service_arns={
            k: f"arn:aws:ecs:us-east-1:123456789012:service/demo/{v}" for k, v in services.items()
        },
        families=dict(services),
        task_definitions={
            k: f"arn:aws:ecs:us-east-1:123456789012:task-definition/{v}:1"
            for k, v in services.items()
        },
        containers={"api": "api", "web": "web", "worker": "api"},
        images={
            "api": f"{registry}/api:v1",
            "web": f"{registry}/web:v1",
            "worker": f"{registry}/api:v1",
        },
        log_groups={k: f"/ecs/demo/{k}" for k in services},
        log_stream_prefixes={k: k for k in services},
        history_bucket="demo-releases",
    )


def test_shipline_config_loads_with_the_config_contract(tmp_path):
    path = tmp_path / "shipline.yml"
    path.write_text(yaml.safe_dump(seeded().shipline_config()))
    environment = load_config(path, env={}).environment("sim")
    assert environment.cluster == "demo"
    assert environment.history == "s3://demo-releases/releases"
    assert environment.services["worker"].service == "demo-billing-worker"
    assert environment.services["worker"].container == "api"
    assert environment.services["worker"].image == "api"
    assert environment.services["api"].health == f"{ENDPOINT}/_sim/health/demo/demo-api"
    assert environment.services["web"].health == f"{ENDPOINT}/_sim/health/demo/demo-web"
    assert environment.migrate is not None
    assert environment.migrate.service == "api"
    assert list(environment.migrate.command) == ["starter-console", "release", "db"]


def test_image_at_another_tag_keeps_the_repository():
    assert seeded().reference("worker", "v7").endswith("/agent-saas/api:v7")
    assert seeded().health_url("web") == f"{ENDPOINT}/_sim/health/demo/demo-web"
