"""The one factory for boto3 clients: region, endpoint and retry mode decided in one place.

The endpoint comes from AWS_ENDPOINT_URL (boto3 reads it itself), which is how a test or a
demo points shipline at the `shipline sim` sandbox.
"""

from __future__ import annotations

import os
from functools import cache
from typing import Any

from shipline.errors import UsageError

# Enough attempts that throttling and 5xx answers never fail a release by themselves.
RETRY_MODE = os.environ.get("SHIPLINE_AWS_RETRY_MODE", "adaptive")
MAX_ATTEMPTS = int(os.environ.get("SHIPLINE_AWS_MAX_ATTEMPTS", "12"))


def resolve_region(configured: str | None = None) -> str:
    region = configured or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if not region:
        raise UsageError(
            "no AWS region: set `region` in shipline.yml or AWS_REGION in the environment"
        )
    return region


@cache
def client(service: str, region: str | None = None) -> Any:
    """A boto3 client for `service`, shared per (service, region) in this process."""
    import boto3
    from botocore.config import Config

    config = Config(
        retries={"mode": RETRY_MODE, "max_attempts": MAX_ATTEMPTS},
        connect_timeout=10,
        read_timeout=60,
    )
    return boto3.session.Session().client(
        service, region_name=resolve_region(region), config=config
    )
