"""A realistic environment in the sandbox, created over HTTP with boto3 the way Terraform would.

VPC, private subnets, security group, ECS cluster, log groups, Secrets Manager secrets, Fargate
task definitions for the API, the web app and the billing worker (per the hosting guide), ALBs
and target groups, ECS services with the circuit breaker on, and the release-history bucket.
The demo and the tests both use `seed_environment`; `SeededEnvironment` names everything.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from shipline.errors import ShiplineError

ACCOUNT_ID = "123456789012"  # moto's default account
SERVICE_KEYS = ("api", "web", "worker")
MIGRATE_COMMAND = ["starter-console", "release", "db"]
CONTAINER_PORTS = {"api": 8000, "web": 3000}
HEALTH_PATHS = {"api": "/health/ready", "web": "/api/health/ready"}


@dataclass(frozen=True)
class SeededEnvironment:
    """Names and ARNs of a seeded sandbox environment, keyed by service key (api/web/worker)."""

    endpoint_url: str
    region: str
    name: str
    account_id: str
    vpc_id: str
    subnet_ids: tuple[str, ...]
    security_group_id: str
    cluster: str
    cluster_arn: str
    services: dict[str, str]  # key -> ECS service name
    service_arns: dict[str, str]
    families: dict[str, str]  # key -> task-definition family
    task_definitions: dict[str, str]  # key -> task-definition ARN (revision 1)
    containers: dict[str, str]  # key -> container whose image a release replaces
    images: dict[str, str]  # key -> image reference running now
    log_groups: dict[str, str]  # key -> awslogs group
    log_stream_prefixes: dict[str, str]  # key -> awslogs-stream-prefix
    secrets: dict[str, str] = field(default_factory=dict)  # env var -> secret ARN
    target_groups: dict[str, str] = field(default_factory=dict)  # api/web -> target group ARN
    load_balancers: dict[str, str] = field(default_factory=dict)  # api/web -> ALB ARN
    history_bucket: str = ""
    storage_bucket: str = ""
    desired_count: int = 2
    # key -> the RegisterTaskDefinition request of revision 1, built here (never by the code
    # under test), so every revision the sandbox registers derives from plain data.
    task_definition_requests: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)

    @property
    def history(self) -> str:
        return f"s3://{self.history_bucket}/releases"

    def health_url(self, key: str) -> str:
        return f"{self.endpoint_url}/_sim/health/{self.cluster}/{self.services[key]}"

    def network_configuration(self) -> dict[str, Any]:
        """The services' awsvpc configuration, for RunTask."""
        return {
            "awsvpcConfiguration": {
                "subnets": list(self.subnet_ids),
                "securityGroups": [self.security_group_id],
                "assignPublicIp": "DISABLED",
            }
        }

    def reference(self, key: str, tag: str) -> str:
        """The image reference of `key` at another tag (`api` -> `.../agent-saas/api:<tag>`)."""
        return self.images[key].rsplit(":", 1)[0] + f":{tag}"

    def image(self, key: str, tag: str) -> str:
        """`reference(key, tag)`, pushed to the sandbox's ECR first (once per tag) as a build
        would, so a deploy can resolve the tag to its digest."""
        reference = self.reference(key, tag)
        push_image(_client(self.endpoint_url, self.region, "ecr"), reference)
        return reference

    def pinned(self, key: str, tag: str) -> str:
        """The image at `tag` as a deploy runs it: `repo:tag@sha256:...`."""
        return f"{self.image(key, tag)}@{image_digest(self.reference(key, tag))}"

    def register_image(self, key: str, tag: str) -> str:
        """Register a revision of `key`'s family whose container runs the image at `tag`.

        The seeded revision's request with only that image changed; returns its ARN.
        """
        document = copy.deepcopy(self.task_definition_requests[key])
        for container in document["containerDefinitions"]:
            if container["name"] == self.containers[key]:
                container["image"] = self.image(key, tag)
        ecs = _client(self.endpoint_url, self.region, "ecs")
        answer = ecs.register_task_definition(**document)
        return str(answer["taskDefinition"]["taskDefinitionArn"])

    def shipline_config(self, environment: str = "sim") -> dict[str, Any]:
        """A shipline.yml document (as a dict) for this environment, with sandbox-short waits."""
        services: dict[str, Any] = {}
        for key in SERVICE_KEYS:
            entry: dict[str, Any] = {
                "service": self.services[key],
                "container": self.containers[key],
                "image": "api" if key == "worker" else key,
                "profile": key,
            }
            if key in HEALTH_PATHS:
                entry["health"] = self.health_url(key)
            services[key] = entry
        return {
            "version": 1,
            "environments": {
                environment: {
                    "region": self.region,
                    "cluster": self.cluster,
                    "history": self.history,
                    "services": services,
                    "migrate": {
                        "service": "api",
                        "container": "api",
                        "command": list(MIGRATE_COMMAND),
                        "timeout": 60,
                    },
                    "wait": {"timeout": 60, "poll": 0.1},
                    "health": {
                        "timeout": 20,
                        "interval": 0.1,
                        "successes": 2,
                        "request_timeout": 2,
                    },
                    "rollback": "auto",
                }
            },
        }


@cache
def _client(endpoint_url: str, region: str, service: str) -> Any:
    """One client per sandbox, region and service (making boto3 clients is the slow part)."""
    import boto3

    # Any credentials work against the sandbox; fixed ones keep the caller's own out of it.
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=region
    )
    return session.client(service, endpoint_url=endpoint_url)


def seed_environment(
    endpoint_url: str,
    region: str = "us-east-1",
    name: str = "agent-saas-sim",
    *,
    desired_count: int = 2,
    image_tag: str = "v1",
    wait_timeout: float = 30.0,
    cluster: str | None = None,
    service_names: Mapping[str, str] | None = None,
    history_bucket: str | None = None,
) -> SeededEnvironment:
    """Create the environment in the sandbox at `endpoint_url` and wait until it converged.

    Names derive from `name` (the cluster, `<name>-api`, `-web`, `-billing-worker`, the
    `<name>-releases` bucket) unless given: `service_names` maps every key of SERVICE_KEYS to
    its ECS service name, so an environment can carry the names of real infrastructure.
    """
    cluster = cluster or name
    if service_names is not None and set(service_names) != set(SERVICE_KEYS):
        raise ShiplineError(f"service_names must name exactly {', '.join(SERVICE_KEYS)}")

    def client(service: str) -> Any:
        return _client(endpoint_url, region, service)

    ec2, ecs, logs, sm = client("ec2"), client("ecs"), client("logs"), client("secretsmanager")
    elbv2, s3, iam = client("elbv2"), client("s3"), client("iam")
    registry = f"{ACCOUNT_ID}.dkr.ecr.{region}.amazonaws.com/agent-saas"
    images = {"api": f"{registry}/api:{image_tag}", "web": f"{registry}/web:{image_tag}"}
    images["worker"] = images["api"]
    for reference in {images["api"], images["web"]}:
        push_image(client("ecr"), reference)

    # Network: a VPC with DNS hostnames (as the blueprint makes it), two private subnets in two AZs.
    vpc_id = ec2.create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsHostnames={"Value": True})
    ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsSupport={"Value": True})
    subnet_ids = tuple(
        ec2.create_subnet(
            VpcId=vpc_id, CidrBlock=f"10.40.{index}.0/24", AvailabilityZone=f"{region}{zone}"
        )["Subnet"]["SubnetId"]
        for index, zone in ((1, "a"), (2, "b"))
    )
    security_group_id = ec2.create_security_group(
        GroupName=f"{name}-tasks", Description="ECS tasks", VpcId=vpc_id
    )["GroupId"]

    cluster_arn = ecs.create_cluster(clusterName=cluster)["cluster"]["clusterArn"]

    # IAM roles the task definitions name.
    assume = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
    )
    execution_role = iam.create_role(RoleName=f"{name}-execution", AssumeRolePolicyDocument=assume)[
        "Role"
    ]["Arn"]
    task_role = iam.create_role(RoleName=f"{name}-task", AssumeRolePolicyDocument=assume)["Role"][
        "Arn"
    ]

    # Secrets: app credentials come from Secrets Manager, never plain environment values.
    secret_values = {
        "DATABASE_URL": "postgresql://app:sandbox@db.internal:5432/app",
        "REDIS_URL": "rediss://:sandbox@cache.internal:6379/0",
        "AWS_SM_SIGNING_SECRET_ARN": "sandbox-signing-secret",
        "AUTH_KEY_SECRET_NAME": '{"keys": []}',
    }
    secret_names = {
        "DATABASE_URL": "database-url",
        "REDIS_URL": "redis-url",
        "AWS_SM_SIGNING_SECRET_ARN": "signing-secret",
        "AUTH_KEY_SECRET_NAME": "auth-keyset",
    }
    secrets = {
        env: sm.create_secret(Name=f"{name}/{secret_names[env]}", SecretString=value)["ARN"]
        for env, value in secret_values.items()
    }

    history_bucket = history_bucket or f"{name}-releases"
    storage_bucket = f"{name}-storage"
    for bucket in (history_bucket, storage_bucket):
        if region == "us-east-1":
            s3.create_bucket(Bucket=bucket)
        else:
            s3.create_bucket(
                Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region}
            )
    s3.put_bucket_versioning(Bucket=history_bucket, VersioningConfiguration={"Status": "Enabled"})

    # Load balancers: one internal ALB per public service, each with its target group.
    target_groups: dict[str, str] = {}
    load_balancers: dict[str, str] = {}
    for key in ("api", "web"):
        target_groups[key] = elbv2.create_target_group(
            Name=f"{name}-{key}"[:32],
            Protocol="HTTP",
            Port=CONTAINER_PORTS[key],
            VpcId=vpc_id,
            TargetType="ip",
            HealthCheckPath=HEALTH_PATHS[key],
        )["TargetGroups"][0]["TargetGroupArn"]
        load_balancers[key] = elbv2.create_load_balancer(
            Name=f"{name}-{key}"[:32],
            Subnets=list(subnet_ids),
            SecurityGroups=[security_group_id],
            Scheme="internal",
            Type="application",
        )["LoadBalancers"][0]["LoadBalancerArn"]
        elbv2.create_listener(
            LoadBalancerArn=load_balancers[key],
            Protocol="HTTP",
            Port=80,
            DefaultActions=[{"Type": "forward", "TargetGroupArn": target_groups[key]}],
        )

    public_url = f"https://app.{name}.example.test"
    api_host = f"api.{name}.example.test"
    api_environment = {
        "ENVIRONMENT": "sim",
        "APP_PUBLIC_URL": public_url,
        "ALLOWED_HOSTS": api_host,
        "ALLOWED_ORIGINS": public_url,
        "SECRETS_PROVIDER": "aws_sm",
        "AWS_REGION": region,
        "AWS_SM_SIGNING_SECRET_ARN": secrets["AWS_SM_SIGNING_SECRET_ARN"],
        "AUTH_KEY_STORAGE_BACKEND": "secret-manager",
        "AUTH_KEY_STORAGE_PROVIDER": "aws_sm",
        "AUTH_KEY_SECRET_NAME": secrets["AUTH_KEY_SECRET_NAME"],
        "STORAGE_PROVIDER": "s3",
        "S3_BUCKET": storage_bucket,
    }
    environments = {
        "api": {**api_environment, "ENABLE_BILLING_RETRY_WORKER": "false"},
        "worker": {
            **api_environment,
            "ENABLE_BILLING_RETRY_WORKER": "true",
            "BILLING_RETRY_DEPLOYMENT_MODE": "dedicated",
        },
        "web": {
            "ENVIRONMENT": "sim",
            "API_BASE_URL": f"https://{api_host}",
            "APP_PUBLIC_URL": public_url,
        },
    }
    services = {"api": f"{name}-api", "web": f"{name}-web", "worker": f"{name}-billing-worker"}
    services = dict(service_names) if service_names is not None else services
    families = dict(services)
    containers = {"api": "api", "web": "web", "worker": "api"}
    log_groups = {key: f"/ecs/{name}/{key}" for key in SERVICE_KEYS}
    prefixes = {key: key for key in SERVICE_KEYS}
    for group in log_groups.values():
        logs.create_log_group(logGroupName=group)
        logs.put_retention_policy(logGroupName=group, retentionInDays=30)

    requests: dict[str, dict[str, Any]] = {}
    task_definitions: dict[str, str] = {}
    for key in SERVICE_KEYS:
        container: dict[str, Any] = {
            "name": containers[key],
            "image": images[key],
            "essential": True,
            "memoryReservation": 512,
            "environment": [{"name": k, "value": v} for k, v in sorted(environments[key].items())],
            "logConfiguration": {
                "logDriver": "awslogs",
                "options": {
                    "awslogs-group": log_groups[key],
                    "awslogs-region": region,
                    "awslogs-stream-prefix": prefixes[key],
                },
            },
        }
        if key in CONTAINER_PORTS:
            container["portMappings"] = [{"containerPort": CONTAINER_PORTS[key], "protocol": "tcp"}]
        if key != "web":
            container["secrets"] = [
                {"name": env, "valueFrom": secrets[env]} for env in ("DATABASE_URL", "REDIS_URL")
            ]
        requests[key] = {
            "family": families[key],
            "requiresCompatibilities": ["FARGATE"],
            "networkMode": "awsvpc",
            "cpu": "512",
            "memory": "1024",
            "executionRoleArn": execution_role,
            "taskRoleArn": task_role,
            "containerDefinitions": [container],
        }
        task_definitions[key] = ecs.register_task_definition(**copy.deepcopy(requests[key]))[
            "taskDefinition"
        ]["taskDefinitionArn"]

    network = {
        "awsvpcConfiguration": {
            "subnets": list(subnet_ids),
            "securityGroups": [security_group_id],
            "assignPublicIp": "DISABLED",
        }
    }
    service_arns: dict[str, str] = {}
    for key in SERVICE_KEYS:
        extra: dict[str, Any] = {}
        if key in target_groups:
            extra["loadBalancers"] = [
                {
                    "targetGroupArn": target_groups[key],
                    "containerName": containers[key],
                    "containerPort": CONTAINER_PORTS[key],
                }
            ]
            extra["healthCheckGracePeriodSeconds"] = 30
        service_arns[key] = ecs.create_service(
            cluster=cluster,
            serviceName=services[key],
            taskDefinition=task_definitions[key],
            desiredCount=desired_count,
            launchType="FARGATE",
            networkConfiguration=network,
            deploymentConfiguration={
                "deploymentCircuitBreaker": {"enable": True, "rollback": True},
                "maximumPercent": 200,
                "minimumHealthyPercent": 100,
            },
            propagateTags="SERVICE",
            **extra,
        )["service"]["serviceArn"]

    environment = SeededEnvironment(
        endpoint_url=endpoint_url.rstrip("/"),
        region=region,
        name=name,
        account_id=ACCOUNT_ID,
        vpc_id=vpc_id,
        subnet_ids=subnet_ids,
        security_group_id=security_group_id,
        cluster=cluster,
        cluster_arn=cluster_arn,
        services=services,
        service_arns=service_arns,
        families=families,
        task_definitions=task_definitions,
        containers=containers,
        images=images,
        log_groups=log_groups,
        log_stream_prefixes=prefixes,
        secrets=secrets,
        target_groups=target_groups,
        load_balancers=load_balancers,
        history_bucket=history_bucket,
        storage_bucket=storage_bucket,
        desired_count=desired_count,
        task_definition_requests=requests,
    )
    wait_until_converged(ecs, cluster, list(services.values()), timeout=wait_timeout)
    return environment


def image_manifest(reference: str) -> str:
    """A small, distinct image manifest standing in for the image built for `reference`."""
    layer = hashlib.sha256(reference.encode()).hexdigest()
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": f"sha256:{layer}",
                "size": 2,
            },
            "layers": [],
        },
        sort_keys=True,
    )


def image_digest(reference: str) -> str:
    return "sha256:" + hashlib.sha256(image_manifest(reference).encode()).hexdigest()


def push_image(ecr: Any, reference: str) -> str:
    """Put the image `repo:tag` into the sandbox's ECR (creating the repository); its digest."""
    repository, tag = reference.split("/", 1)[1].rsplit(":", 1)
    digest = image_digest(reference)
    with contextlib.suppress(ecr.exceptions.RepositoryAlreadyExistsException):
        ecr.create_repository(repositoryName=repository)
    # Pushed before: the same manifest under the same tag.
    with contextlib.suppress(ecr.exceptions.ImageAlreadyExistsException):
        ecr.put_image(
            repositoryName=repository,
            imageManifest=image_manifest(reference),
            imageManifestMediaType="application/vnd.oci.image.manifest.v1+json",
            imageTag=tag,
            imageDigest=digest,
        )
    return digest


def wait_until_converged(
    ecs: Any, cluster: str, services: list[str], timeout: float = 30.0
) -> None:
    """Until every service has one COMPLETED deployment and runs its desired count."""
    deadline = time.monotonic() + timeout
    while True:
        described = ecs.describe_services(cluster=cluster, services=services)["services"]
        pending = [
            s["serviceName"]
            for s in described
            if len(s["deployments"]) != 1
            or s["deployments"][0]["rolloutState"] != "COMPLETED"
            or s["runningCount"] != s["desiredCount"]
        ]
        if not pending and len(described) == len(services):
            return
        if time.monotonic() > deadline:
            raise ShiplineError(
                f"sandbox services did not converge in {timeout:g}s: {', '.join(pending)}"
            )
        time.sleep(0.05)
