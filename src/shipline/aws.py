"""The one factory for boto3 clients: region, endpoint and retry mode decided in one place.

The endpoint comes from AWS_ENDPOINT_URL (boto3 reads it itself), which is how a test or a
demo points shipline at the `shipline sim` sandbox.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from functools import cache
from typing import TYPE_CHECKING, Any, Literal, TypeGuard, get_args
from urllib.parse import urlsplit

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
# An endpoint that cannot be reached, or answers nothing, is not busy: a CLI says so within
# seconds instead of stacking botocore's defaults (60 s reads, 12 attempts, ~40 s of backoff).
# Once an endpoint has answered, a lost connection is a blip and gets the retry mode's attempts.
CONNECT_TIMEOUT = 5.0  # seconds to open a connection
READ_TIMEOUT = 15.0  # seconds to wait for an answer; AWS's API calls answer within a second
FIRST_CONTACT_ATTEMPTS = 2  # attempts of a call to an endpoint that has not answered yet


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
        # total_max_attempts counts the first call too; botocore's max_attempts counts retries.
        return {"mode": mode, "total_max_attempts": int(attempts)}
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
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=READ_TIMEOUT,
    )
    session = boto3.session.Session()
    if session.get_credentials() is None:  # else botocore's "Unable to locate credentials" later
        raise UsageError(NO_CREDENTIALS)
    made = session.client(service, region_name=resolve_region(region), config=config)
    # Before botocore's own handler: the first non-None answer decides (False: no retry).
    made.meta.events.register_first(
        f"needs-retry.{made.meta.service_model.service_id.hyphenize()}", FirstContact()
    )
    return made


class FirstContact:
    """botocore's needs-retry hook of one client: until its endpoint has answered once, a
    call that cannot connect or gets no answer ends after FIRST_CONTACT_ATTEMPTS attempts.
    Everything else (throttling, 5xx, a lost connection later on) is the retry mode's."""

    def __init__(self) -> None:
        self.answered = False

    def __call__(
        self, attempts: int, caught_exception: BaseException | None = None, **_: Any
    ) -> bool | None:
        from botocore.exceptions import ConnectionClosedError, ConnectionError, ReadTimeoutError

        if caught_exception is None:  # an HTTP answer, whatever its status
            self.answered = True
            return None
        unreachable = (ConnectionError, ConnectionClosedError, ReadTimeoutError)
        if not self.answered and isinstance(caught_exception, unreachable):
            return False if attempts >= FIRST_CONTACT_ATTEMPTS else None
        return None


# Error codes of AWS answers that reject the credentials themselves, not a permission.
_REJECTED_CREDENTIALS = {
    "ExpiredToken": "have expired",
    "ExpiredTokenException": "have expired",
    "RequestExpired": "have expired, or this machine's clock is wrong",
    "InvalidClientTokenId": "are not valid",
    "UnrecognizedClientException": "are not valid",
    "InvalidAccessKeyId": "are not valid",
    "SignatureDoesNotMatch": "do not match (wrong secret key)",
    "AuthFailure": "are not valid",
}
_RENEW = (
    "renew them (`aws sso login`, or assume the role again; in GitHub Actions, "
    "aws-actions/configure-aws-credentials) and run the command again"
)


def unusable(exc: BaseException) -> str | None:
    """One line for an error that says AWS cannot be used at all (endpoint unreachable or
    silent, credentials missing, expired or rejected), naming what to check; None for any other
    error. Only the endpoint's scheme, host and port are named: a request URL carries its
    parameters."""
    from botocore import exceptions as e

    if isinstance(exc, (e.ConnectionError, e.ConnectionClosedError, e.ReadTimeoutError)):
        kwargs = getattr(exc, "kwargs", {})
        where = urlsplit(str(kwargs.get("endpoint_url") or kwargs.get("proxy_url") or ""))
        # Scheme, host and port only: a proxy URL may carry a user and password.
        port = f":{where.port}" if where.port else ""
        endpoint = f"{where.scheme}://{where.hostname}{port}" if where.hostname else "the endpoint"
        if isinstance(exc, e.ProxyConnectionError):
            return (
                f"cannot connect to the proxy {endpoint}: check HTTPS_PROXY / HTTP_PROXY and "
                "NO_PROXY"
            )
        if isinstance(exc, e.ConnectTimeoutError):
            what = f"no connection within {CONNECT_TIMEOUT:g}s"
        elif isinstance(exc, e.ReadTimeoutError):
            what = f"no answer within {READ_TIMEOUT:g}s"
        elif isinstance(exc, e.ConnectionClosedError):
            what = "the connection was closed without an answer"
        else:
            what = "could not connect"
        return (
            f"AWS endpoint {endpoint} is unreachable ({what}): "
            "check AWS_ENDPOINT_URL (unset it for AWS itself), AWS_REGION, and the network or "
            "proxy between this machine and AWS"
        )
    if isinstance(exc, (e.NoCredentialsError, e.PartialCredentialsError)):
        return NO_CREDENTIALS
    if isinstance(exc, (e.SSOError, e.TokenRetrievalError)):
        return f"the AWS SSO session cannot be used ({exc}): run `aws sso login` and try again"
    if isinstance(exc, e.CredentialRetrievalError):
        return f"AWS credentials could not be obtained ({exc}): {_RENEW}"
    if isinstance(exc, e.ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in _REJECTED_CREDENTIALS:
            return f"AWS credentials {_REJECTED_CREDENTIALS[code]} ({code}): {_RENEW}"
    return None


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


def describe_task_definition(ecs: Any, arn: str, what: str = "") -> dict[str, Any]:
    """DescribeTaskDefinition with its tags under `tags`; PreflightError (`what` first) when
    the task definition cannot be read."""
    from botocore.exceptions import ClientError

    from shipline.errors import PreflightError

    try:
        answer = ecs.describe_task_definition(taskDefinition=arn, include=["TAGS"])
    except ClientError as exc:
        message = exc.response.get("Error", {}).get("Message") or str(exc)
        where = f"{what}: " if what else ""
        raise PreflightError(f"{where}task definition {arn} cannot be read: {message}") from exc
    return {**answer["taskDefinition"], "tags": answer.get("tags") or []}


def short_name(arn: str | None, missing: str = "?") -> str:
    """The last part of an ARN: `family:revision` of a task definition, a task's id."""
    return (arn or missing).rsplit("/", 1)[-1]
