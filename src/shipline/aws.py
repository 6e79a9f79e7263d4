"""The one factory for boto3 clients: region, endpoint and retry mode decided in one place.

The endpoint comes from AWS_ENDPOINT_URL (boto3 reads it itself), which is how a test or a
demo points shipline at the `shipline sim` sandbox.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from functools import cache
from typing import TYPE_CHECKING, Any, Literal, TypeGuard, get_args

from shipline.errors import UsageError

if TYPE_CHECKING:
    from botocore.config import _RetryDict

# The AWS services shipline calls (boto3's names for them).
AwsService = Literal["ecr", "ecs", "iam", "logs", "s3", "secretsmanager", "ssm", "sts"]

# Enough attempts that throttling and 5xx answers never fail a release by themselves.
RetryMode = Literal["legacy", "standard", "adaptive"]  # botocore's retry modes
RETRY_MODES: tuple[RetryMode, ...] = get_args(RetryMode)
RETRY_MODE: RetryMode = "adaptive"
MAX_ATTEMPTS = 12


NO_CREDENTIALS = (
    "no AWS credentials found: set AWS_PROFILE (after `aws sso login` or `aws configure`), or "
    "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; in GitHub Actions assume the deploy role with "
    "aws-actions/configure-aws-credentials first"
)


def _is_retry_mode(text: str) -> TypeGuard[RetryMode]:
    return text in RETRY_MODES


def retry_settings(environ: Mapping[str, str] = os.environ) -> _RetryDict:
    """botocore's retry settings, from SHIPLINE_AWS_RETRY_MODE and SHIPLINE_AWS_MAX_ATTEMPTS;
    UsageError (exit 2) for a value botocore would not take."""
    mode = environ.get("SHIPLINE_AWS_RETRY_MODE", RETRY_MODE)
    attempts = environ.get("SHIPLINE_AWS_MAX_ATTEMPTS", str(MAX_ATTEMPTS))
    if not (attempts.isascii() and attempts.isdigit() and int(attempts) >= 1):
        raise UsageError(f"SHIPLINE_AWS_MAX_ATTEMPTS {attempts!r} is not a whole number >= 1")
    if _is_retry_mode(mode):
        return {"mode": mode, "max_attempts": int(attempts)}
    raise UsageError(f"SHIPLINE_AWS_RETRY_MODE {mode!r} is not one of: {', '.join(RETRY_MODES)}")


def resolve_region(configured: str | None = None) -> str:
    region = configured or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if not region:
        raise UsageError(
            "no AWS region: set `region` in shipline.yml or AWS_REGION in the environment"
        )
    return region


@cache
def client(service: AwsService, region: str | None = None) -> Any:
    """A boto3 client for `service`, shared per (service, region) in this process."""
    import boto3
    from botocore.config import Config

    config = Config(
        retries=retry_settings(),
        connect_timeout=10,
        read_timeout=60,
    )
    session = boto3.session.Session()
    if session.get_credentials() is None:  # else botocore's "Unable to locate credentials" later
        raise UsageError(NO_CREDENTIALS)
    return session.client(service, region_name=resolve_region(region), config=config)


DESCRIBE_BATCH = 10  # DescribeServices takes at most ten services per call


def describe_services(ecs: Any, cluster: str, names: Iterable[str]) -> dict[str, dict[str, Any]]:
    """ECS service name -> its description (ten per call); services ECS does not know are left
    out. PreflightError when the cluster itself does not exist."""
    from shipline.errors import PreflightError

    wanted = list(dict.fromkeys(names))
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(wanted), DESCRIBE_BATCH):
        try:
            answer = ecs.describe_services(
                cluster=cluster, services=wanted[start : start + DESCRIBE_BATCH]
            )
        except ecs.exceptions.ClusterNotFoundException:
            raise PreflightError(
                f"cluster '{cluster}' does not exist or is not ACTIVE in {ecs.meta.region_name}"
            ) from None
        for description in answer.get("services", []):
            found[description["serviceName"]] = description
    return found


def short_name(arn: str | None, missing: str = "?") -> str:
    """The last part of an ARN: `family:revision` of a task definition, a task's id."""
    return (arn or missing).rsplit("/", 1)[-1]
