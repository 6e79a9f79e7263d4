"""Do the secrets a task definition references exist? Metadata only: no value is ever read.

ECS accepts, in `secrets[].valueFrom`: a Secrets Manager ARN, full or partial, optionally with
`:json-key:version-stage:version-id` after it; an SSM parameter ARN; or an SSM parameter name
(same region as the task). Secrets Manager is asked with DescribeSecret, SSM with
DescribeParameters (GetParameter would return the value).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from shipline import aws
from shipline.env.rules import ERROR, SECRET_REFS, Problem


@dataclass(frozen=True)
class SecretRef:
    text: str
    service: Literal["secretsmanager", "ssm"]
    region: str | None  # None: the task's region
    secret_id: str  # DescribeSecret SecretId, or the SSM parameter name
    json_key: str | None = None
    version_stage: str | None = None
    version_id: str | None = None


def parse_secret_ref(text: str) -> SecretRef:
    """What `text` points at; ValueError with the reason when ECS would not accept it."""
    value = text.strip()
    if not value:
        raise ValueError("is empty")
    if not value.startswith("arn:"):
        name = value
        return SecretRef(text, "ssm", None, name)
    parts = value.split(":", 5)
    if len(parts) < 6:
        raise ValueError("is not a complete ARN")
    _, partition, service, region, account, resource = parts
    prefix = f"arn:{partition}:{service}:{region}:{account}:"
    if service == "secretsmanager":
        if not resource.startswith("secret:") or len(resource) == len("secret:"):
            raise ValueError("is a Secrets Manager ARN without `secret:<name>`")
        name, *extra = resource[len("secret:") :].split(":")
        if len(extra) > 3:
            raise ValueError("has more than json-key:version-stage:version-id after the secret")
        extra += [""] * (3 - len(extra))
        return SecretRef(
            text,
            "secretsmanager",
            region or None,
            f"{prefix}secret:{name}",
            json_key=extra[0] or None,
            version_stage=extra[1] or None,
            version_id=extra[2] or None,
        )
    if service == "ssm":
        if not resource.startswith("parameter/") or len(resource) == len("parameter/"):
            raise ValueError("is an SSM ARN without `parameter/<name>`")
        name = resource[len("parameter/") :]
        # A hierarchical parameter /a/b has the ARN ...:parameter/a/b.
        return SecretRef(text, "ssm", region or None, f"/{name}" if "/" in name else name)
    raise ValueError(f"is a {service} ARN; ECS reads secrets from Secrets Manager or SSM only")


def parse_secrets_manager_name(text: str) -> SecretRef:
    """A Secrets Manager secret the app names by ARN or by name (never an SSM parameter)."""
    value = text.strip()
    if value.startswith("arn:"):
        ref = parse_secret_ref(value)
        if ref.service != "secretsmanager":
            raise ValueError("is not a Secrets Manager secret")
        return ref
    if not value:
        raise ValueError("is empty")
    return SecretRef(text, "secretsmanager", None, value)


def check_named_secrets(names: Mapping[str, Sequence[str]], region: str | None) -> list[Problem]:
    """`check_secret_refs` for the Secrets Manager secrets the app names in its variables
    (see `rules.named_secrets_of`): the signing secret and the keyset secret."""
    return check_secret_refs(
        names, region, parse=parse_secrets_manager_name, expected="a Secrets Manager secret ARN"
    )


def check_secret_refs(
    value_froms: Iterable[str] | Mapping[str, Sequence[str]],
    region: str | None,
    parse: Callable[[str], SecretRef] = parse_secret_ref,
    expected: str = "a Secrets Manager secret ARN or an SSM parameter ARN or name",
) -> list[Problem]:
    """One problem per reference that does not exist or cannot be checked.

    `value_froms`: the references, or reference -> where it is used (see
    `rules.secret_refs_of`), which the messages then name. `region`: the tasks' region,
    for references that are not ARNs (an ARN's own region wins).
    """
    used_by = value_froms if isinstance(value_froms, Mapping) else {}
    found: list[Problem] = []
    for text in dict.fromkeys(value_froms):
        where = ", ".join(used_by.get(text, ()))
        subject = f" (used by {where})" if where else ""
        try:
            ref = parse(text)
        except ValueError as exc:
            found.append(
                Problem(
                    SECRET_REFS,
                    None,
                    f"secret reference {text}{subject} {exc}",
                    f"use {expected}",
                    ERROR,
                )
            )
            continue
        message = _check(ref, region)
        if message:
            found.append(Problem(SECRET_REFS, None, f"{message}{subject}", _fix(ref), ERROR))
    return found


def _fix(ref: SecretRef) -> str:
    if ref.service == "secretsmanager":
        return (
            "create the secret (or fix the ARN) and grant the deploy role "
            "secretsmanager:DescribeSecret on it"
        )
    return "create the SSM parameter (or fix the name) and grant ssm:DescribeParameters"


def _check(ref: SecretRef, region: str | None) -> str | None:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        client = aws.client(ref.service, ref.region or region)
        if ref.service == "secretsmanager":
            return _check_secret(client, ref)
        return _check_parameter(client, ref)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in {"ResourceNotFoundException", "ParameterNotFound"}:
            return f"secret {ref.text} does not exist"
        if code in {"AccessDeniedException", "AccessDenied"}:
            return f"secret {ref.text} cannot be checked: access denied"
        return f"secret {ref.text} cannot be checked: {code or exc}"
    except BotoCoreError as exc:
        return f"secret {ref.text} cannot be checked: {exc}"


def _check_secret(client: Any, ref: SecretRef) -> str | None:
    described = client.describe_secret(SecretId=ref.secret_id)
    if described.get("DeletedDate"):
        return f"secret {ref.text} is scheduled for deletion"
    versions: dict[str, list[str]] = described.get("VersionIdsToStages") or {}
    if ref.version_id and ref.version_id not in versions:
        return f"secret {ref.text} has no version {ref.version_id}"
    stages = {stage for names in versions.values() for stage in names}
    if ref.version_stage and ref.version_stage not in stages:
        return f"secret {ref.text} has no version labelled {ref.version_stage}"
    return None


def _check_parameter(client: Any, ref: SecretRef) -> str | None:
    answer = client.describe_parameters(
        ParameterFilters=[{"Key": "Name", "Option": "Equals", "Values": [ref.secret_id]}]
    )
    if not answer.get("Parameters"):
        return f"SSM parameter {ref.text} does not exist"
    return None
