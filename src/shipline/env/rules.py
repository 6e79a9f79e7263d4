"""The hosting guide's environment rules for the API, the web app and the billing worker (pure).

`check_environment` runs every rule on one set of variables and returns every problem at once;
`preflight_problems` runs the same rules on rendered ECS task definitions, plus the rules that
only make sense there (secrets injected from Secrets Manager, the billing topology across
services). Nothing here reads AWS or prints: secret values are masked before they reach a message.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any, Protocol
from urllib.parse import urlsplit

from shipline.env.inventory import Inventory, Variable, condition_holds, load_inventory
from shipline.errors import UsageError
from shipline.sensitive import is_secret, url_password

ERROR = "error"
WARNING = "warning"

# The named checks of the deploy preflight; `--skip-preflight NAME` skips one on purpose.
ENV_RULES = "env-rules"
PLAINTEXT_SECRETS = "plaintext-secrets"
SECRET_REFS = "secret-refs"
BILLING_TOPOLOGY = "billing-topology"
IMAGE_DIGESTS = "image-digests"

# Every named check of deploy's preflight, for --skip-preflight and the docs.
PREFLIGHT_CHECKS: dict[str, str] = {
    IMAGE_DIGESTS: "every --image exists in its registry; the release runs it by digest",
    ENV_RULES: "the hosting guide's variable rules on every service with a profile",
    PLAINTEXT_SECRETS: "DATABASE_URL, REDIS_URL and secret-looking variables only from `secrets`",
    SECRET_REFS: "every secrets[].valueFrom, and the signing and keyset secrets the variables "
    "name, exist (Secrets Manager / SSM metadata; no value is read)",
    BILLING_TOPOLOGY: "billing retries in a dedicated worker when the API has several replicas",
}

# The rules that tie variables together name them here; everything else comes from the inventory.
ENVIRONMENT = "ENVIRONMENT"
ALLOWED_ORIGINS = "ALLOWED_ORIGINS"
APP_PUBLIC_URL = "APP_PUBLIC_URL"

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}
_AWS_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d+")
# ECS also takes `<secret ARN>:json-key:version-stage:version-id` (any of them empty).
_SM_ARN = re.compile(
    r"arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+(?::[^\s:]*){0,3}"
)
_S3_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_HOST = re.compile(
    r"(\*|\*\.|\.)?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*(:\d{1,5})?"
)
_IPV6_HOST = re.compile(r"\[[0-9A-Fa-f:.]+\](:\d{1,5})?")


@dataclass(frozen=True)
class Problem:
    """One thing wrong: which check found it, the variable, what is wrong and how to fix it."""

    check: str
    variable: str | None
    message: str
    fix: str
    severity: str = ERROR
    service: str | None = None

    @property
    def is_error(self) -> bool:
        return self.severity == ERROR

    def text(self) -> str:
        where = f"[{self.service}] " if self.service else ""
        subject = f"{self.variable} " if self.variable else ""
        return f"{where}{subject}{self.message}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class ServiceLike(Protocol):
    """What preflight reads from a configured service (shipline.config.Service fits)."""

    @property
    def profile(self) -> str | None: ...

    @property
    def container(self) -> str: ...


# --- formats -----------------------------------------------------------------------------------


def parse_list(value: str) -> list[str]:
    """A list variable: a JSON array of strings, or comma-separated text."""
    text = value.strip()
    if text.startswith("["):
        try:
            items = json.loads(text)
        except json.JSONDecodeError:
            items = None
        if isinstance(items, list) and all(isinstance(item, str) for item in items):
            return [item.strip() for item in items if item.strip()]
    return [item.strip() for item in text.split(",") if item.strip()]


def _url_problem(value: str, schemes: Collection[str], example: str) -> str | None:
    text = value.strip()
    if any(char.isspace() for char in text):
        return f"must be a URL without spaces, such as {example}"
    try:
        parts = urlsplit(text)
        host = parts.hostname
    except ValueError:
        return f"is not a valid URL; expected one such as {example}"
    scheme = parts.scheme.lower()
    if not scheme or not host:
        return f"is not an absolute URL; expected one such as {example}"
    if scheme not in schemes:
        wanted = " or ".join(f"{item}://" for item in sorted(schemes))
        return f"uses {scheme}://; expected {wanted} (such as {example})"
    return None


def format_problem(fmt: str, value: str, var: Variable) -> tuple[str, str] | None:
    """(what is wrong, how to fix it) when `value` does not fit `fmt`; messages never quote it."""
    text = value.strip()
    if fmt == "text":
        return None
    if fmt in {"url", "https_url"}:
        schemes = {"https"} if fmt == "https_url" else {"http", "https"}
        found = _url_problem(text, schemes, "https://app.example.com")
        return (found, "use the full https:// URL") if found else None
    if fmt == "postgres_url":
        scheme = text.split("://", 1)[0].lower() if "://" in text else ""
        schemes = {scheme} if scheme.startswith("postgresql+") else {"postgres", "postgresql"}
        found = _url_problem(text, schemes, "postgresql://user:password@host:5432/db")
        return (found, "store a postgresql://user:password@host:5432/db URL") if found else None
    if fmt in {"redis_url", "rediss_url"}:
        schemes = {"rediss"} if fmt == "rediss_url" else {"redis", "rediss"}
        found = _url_problem(text, schemes, "rediss://:token@host:6379/0")
        return (found, "use the ElastiCache endpoint as a rediss:// URL") if found else None
    if fmt == "secretsmanager_arn":
        if _SM_ARN.fullmatch(text):
            return None
        return (
            "is not a Secrets Manager ARN",
            "use the secret's ARN, arn:aws:secretsmanager:<region>:<account>:secret:<name>",
        )
    if fmt == "aws_region":
        if _AWS_REGION.fullmatch(text):
            return None
        return ("is not an AWS region", "use a region code such as us-east-1")
    if fmt == "s3_bucket":
        if text.startswith("s3://") or "/" in text:
            return ("must be a bucket name, not a location", "use just the bucket name")
        if _S3_BUCKET.fullmatch(text) and ".." not in text:
            return None
        return (
            "is not a valid S3 bucket name",
            "use 3-63 lower-case letters, digits, '.' and '-'",
        )
    if fmt == "host_list":
        return _host_list_problem(text)
    if fmt == "origin_list":
        return _origin_list_problem(text)
    if fmt == "boolean":
        if text.lower() in _TRUE | _FALSE:
            return None
        return ("is not true or false", "use true or false")
    if fmt == "enum":
        if text in var.values:
            return None
        return (
            "is not one of the known values " + ", ".join(var.values),
            "use one of " + ", ".join(var.values),
        )
    raise ValueError(f"unknown format {fmt!r} in the variable inventory")


def _host_list_problem(text: str) -> tuple[str, str] | None:
    hosts = parse_list(text)
    if not hosts:
        return ("lists no host", "list the API's domain or the ALB's DNS name")
    urls = [host for host in hosts if "://" in host or "/" in host]
    if urls:
        return (
            "lists URLs; it takes host names",
            "list host names only, e.g. api.example.com (no scheme, no path)",
        )
    bad = [
        host
        for host in hosts
        if host != "*" and not (_HOST.fullmatch(host) or _IPV6_HOST.fullmatch(host))
    ]
    if bad:
        return (f"has {len(bad)} invalid host name(s)", "list host names such as api.example.com")
    return None


def _origin_list_problem(text: str) -> tuple[str, str] | None:
    origins = parse_list(text)
    if origins == ["*"]:
        return None
    for origin in origins:
        found = _url_problem(origin, {"http", "https"}, "https://app.example.com")
        if found:
            return (f"has an entry that {found}", "list origins such as https://app.example.com")
        if urlsplit(origin).path not in {""}:
            return (
                "has an entry with a path or trailing '/'; origins never have one",
                "list origins as scheme://host[:port], e.g. https://app.example.com",
            )
    return None


def as_boolean(value: str) -> bool | None:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    return None


def host_allowed(host: str, allowed: Iterable[str]) -> bool:
    """Whether `host` matches an ALLOWED_HOSTS entry (`*`, exact, `.x.com`, `*.x.com`)."""
    host = host.lower().rstrip(".")
    for entry in allowed:
        pattern = entry.lower()
        if not pattern.startswith("["):
            pattern = pattern.rsplit(":", 1)[0] if pattern.count(":") == 1 else pattern
        if pattern == "*" or pattern == host:
            return True
        if pattern.startswith("*.") and host.endswith(pattern[1:]):
            return True
        if pattern.startswith(".") and (host.endswith(pattern) or host == pattern[1:]):
            return True
    return False


def origin_of(url: str) -> str | None:
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


# --- the checker -------------------------------------------------------------------------------


def check_environment(
    values: Mapping[str, str],
    profile: str,
    *,
    environment_name: str | None = None,
    strict: bool = False,
    api_replicas: int | None = None,
    from_secrets: Collection[str] = (),
    inventory: Inventory | None = None,
    terraform_outputs: Mapping[str, str | None] | None = None,
) -> list[Problem]:
    """Every rule of `profile` on `values`; `from_secrets` are names injected from secrets
    (present, value unknown). `api_replicas` > 1 turns on the API side of the billing topology.
    `terraform_outputs` (output name -> value, None when null): the facts of the environment's
    Terraform the rules read (e.g. whether Redis requires AUTH); None: not known.
    With `strict`, warnings are errors."""
    inventory = inventory or load_inventory()
    if profile not in inventory.profiles:
        raise UsageError(
            f"unknown profile {profile!r}; expected one of {', '.join(inventory.profiles)}"
        )
    view = _Values(values, from_secrets, inventory)
    production = inventory.is_production(environment_name) or inventory.is_production(
        view.explicit(ENVIRONMENT)
    )
    found: list[Problem] = []
    for var in inventory.for_profile(profile):
        found.extend(_variable_problems(var, profile, view, production, inventory))
        found.extend(_password_problems(var, view, terraform_outputs))
        found.extend(_host_coverage_problems(var, view))
    found.extend(_cross_variable_problems(profile, view, environment_name, inventory))
    found.extend(_topology_problems(profile, view, api_replicas, inventory))
    if strict:
        found = [replace(problem, severity=ERROR) for problem in found]
    return found


class _Values:
    """Explicit values, names known only as injected secrets, and the inventory's defaults."""

    def __init__(
        self, values: Mapping[str, str], from_secrets: Collection[str], inventory: Inventory
    ) -> None:
        self.values = values
        self.from_secrets = set(from_secrets)
        self.inventory = inventory

    def explicit(self, name: str) -> str | None:
        value = self.values.get(name)
        return value if value is not None and value.strip() else None

    def is_set(self, name: str) -> bool:
        return self.explicit(name) is not None or name in self.from_secrets

    def is_empty(self, name: str) -> bool:
        return name in self.values and not self.values[name].strip()

    def effective(self, name: str, seen: frozenset[str] = frozenset()) -> str | None:
        """The value the app will use: explicit, else the default (unknown for secrets)."""
        explicit = self.explicit(name)
        if explicit is not None:
            return explicit.strip()
        var = self.inventory.get(name)
        if name in self.from_secrets or var is None or var.default is None or name in seen:
            return None
        if var.default.from_variable:
            return self.effective(var.default.from_variable, seen | {name})
        return var.default.value

    def came_from_default(self, name: str) -> bool:
        return self.explicit(name) is None and self.effective(name) is not None


def _fix_for(var: Variable) -> str:
    fix = f"set {var.name}: {var.description.rstrip('.')}"
    if var.terraform_input:
        fix += f"; the Terraform input `{var.terraform_input}` sets it"
    if var.from_secret:
        fix += "; inject it from a Secrets Manager secret"
    return fix


def _variable_problems(
    var: Variable, profile: str, view: _Values, production: bool, inventory: Inventory
) -> list[Problem]:
    found = []
    if var.required_in(profile) and not view.is_set(var.name):
        when = var.required.when
        if when is None or condition_holds(when, view.effective):
            reason = ""
            if when:
                parts = []
                for name in when:
                    note = " (its default)" if view.came_from_default(name) else ""
                    parts.append(f"{name}={view.effective(name)}{note}")
                reason = " because " + " and ".join(parts)
            state = "is empty" if view.is_empty(var.name) else "is not set"
            message = f"{state}; the {profile} profile requires it{reason}"
            found.append(Problem(ENV_RULES, var.name, message, _fix_for(var)))
    value = view.explicit(var.name)
    if value is None:
        return found
    problem = format_problem(var.format, value, var)
    if problem:
        severity = WARNING if var.format == "enum" and var.open_enum else ERROR
        found.append(Problem(ENV_RULES, var.name, problem[0], problem[1], severity))
        return found
    if production and var.production_format:
        problem = format_problem(var.production_format, value, var)
        if problem:
            message = f"{problem[0]}; production requires it"
            found.append(Problem(ENV_RULES, var.name, message, problem[1]))
    conditional = var.format_when
    if conditional and condition_holds(conditional.when, view.effective):
        problem = format_problem(conditional.format, value, var)
        if problem:
            why = " and ".join(f"{name}={view.effective(name)}" for name in conditional.when)
            message = f"{problem[0]} (expected while {why})"
            found.append(Problem(ENV_RULES, var.name, message, problem[1], conditional.severity))
    return found


def url_host(url: str) -> str | None:
    """The host of `url` (lower case), None when it has none or is not a URL."""
    try:
        host = urlsplit(url.strip()).hostname
    except ValueError:
        return None
    return host or None


def _host_coverage_problems(var: Variable, view: _Values) -> list[Problem]:
    """A host list must cover the host of every URL it names (ALLOWED_HOSTS: API_BASE_URL)."""
    hosts_text = view.explicit(var.name)
    if not var.covers_hosts_of or hosts_text is None:
        return []
    hosts = parse_list(hosts_text)
    found = []
    for url_name in var.covers_hosts_of:
        host = url_host(view.explicit(url_name) or "")
        if host and not host_allowed(host, hosts):
            found.append(
                Problem(
                    ENV_RULES,
                    var.name,
                    f"does not cover {host}, the host of {url_name}; requests to it "
                    "would be refused",
                    f"add {host} to {var.name}",
                )
            )
    return found


def _password_problems(
    var: Variable, view: _Values, terraform_outputs: Mapping[str, str | None] | None
) -> list[Problem]:
    """A URL that must carry its password (REDIS_URL: the AUTH token) when Terraform says so."""
    output = var.password_when_terraform_output
    value = view.explicit(var.name)
    if not output or value is None or format_problem(var.format, value, var) or url_password(value):
        return []
    if terraform_outputs is None:
        return [
            Problem(
                ENV_RULES,
                var.name,
                f"has no password; the blueprint's default requires one (its output {output} "
                "is then set)",
                "put the token in the URL (scheme://:TOKEN@host:port), or check with "
                "--terraform-outputs FILE to read whether this environment requires it",
                WARNING,
            )
        ]
    if terraform_outputs.get(output) in (None, ""):
        return []
    return [
        Problem(
            ENV_RULES,
            var.name,
            f"has no password, but Terraform output {output} is set: the server requires it",
            f"put the token stored in {output} in the URL (scheme://:TOKEN@host:port)",
        )
    ]


def _cross_variable_problems(
    profile: str, view: _Values, environment_name: str | None, inventory: Inventory
) -> list[Problem]:
    found = []
    names = {var.name for var in inventory.for_profile(profile)}
    origins_text = view.explicit(ALLOWED_ORIGINS)
    web_origin = origin_of(view.explicit(APP_PUBLIC_URL) or "")
    if ALLOWED_ORIGINS in names and origins_text and web_origin:
        origins = {origin_of(item) or item for item in parse_list(origins_text)}
        if "*" not in origins and web_origin not in origins:
            found.append(
                Problem(
                    ENV_RULES,
                    ALLOWED_ORIGINS,
                    f"does not include {web_origin}, the origin of APP_PUBLIC_URL; the web "
                    "app's browser calls would be refused",
                    f"add {web_origin} to ALLOWED_ORIGINS, or unset it to default to "
                    "APP_PUBLIC_URL",
                    WARNING,
                )
            )
    label = view.explicit(ENVIRONMENT)
    if (
        ENVIRONMENT in names
        and label
        and inventory.is_production(environment_name)
        and not inventory.is_production(label)
    ):
        found.append(
            Problem(
                ENV_RULES,
                ENVIRONMENT,
                f"is {label!r} but the environment checked is {environment_name!r}; the "
                "app's production safety checks stay off",
                f"set ENVIRONMENT={environment_name}",
                WARNING,
            )
        )
    return found


def _expectation_problems(
    expected: Mapping[str, str], view: _Values, why: str, inventory: Inventory
) -> list[Problem]:
    found = []
    for name, wanted in expected.items():
        if name in view.from_secrets:
            continue  # injected from a secret: the value cannot be seen here
        value = view.explicit(name)
        var = inventory.get(name)
        if value is not None and var is not None and var.format == "boolean":
            matches = as_boolean(value) == as_boolean(wanted)
        else:
            matches = value is not None and value.strip() == wanted
        if not matches:
            state = "is not set" if value is None else f"is {value.strip()!r}"
            found.append(
                Problem(
                    BILLING_TOPOLOGY,
                    name,
                    f"{state}; {why} it must be {wanted}",
                    f"set {name}={wanted}",
                )
            )
    return found


def _topology_problems(
    profile: str, view: _Values, api_replicas: int | None, inventory: Inventory
) -> list[Problem]:
    if profile == "worker":
        return _expectation_problems(
            inventory.worker_topology, view, "on the dedicated billing worker", inventory
        )
    if profile == "api" and api_replicas is not None and api_replicas > 1:
        why = f"with {api_replicas} API replicas (billing retries belong in the worker)"
        return _expectation_problems(inventory.api_when_replicated, view, why, inventory)
    return []


# --- the deploy preflight ----------------------------------------------------------------------


def validate_skip(names: Iterable[str]) -> frozenset[str]:
    """The checks named by `--skip-preflight`; an unknown name is a UsageError (exit 2)."""
    chosen = frozenset(names)
    unknown = sorted(chosen - PREFLIGHT_CHECKS.keys())
    if unknown:
        raise UsageError(
            f"unknown preflight check {', '.join(unknown)}; known: {', '.join(PREFLIGHT_CHECKS)}"
        )
    return chosen


def container_definitions(task_definition: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    found = task_definition.get("containerDefinitions") or []
    return [item for item in found if isinstance(item, Mapping)]


def container_env(container: Mapping[str, Any]) -> tuple[dict[str, str], list[str]]:
    """(plain `environment` name -> value, names injected from `secrets`) of one container."""
    plain = {
        str(item.get("name")): str(item.get("value", ""))
        for item in container.get("environment") or []
        if item.get("name")
    }
    secret_names = [
        str(item["name"]) for item in container.get("secrets") or [] if item.get("name")
    ]
    return plain, secret_names


def secret_refs_of(
    task_definitions_by_key: Mapping[str, Mapping[str, Any]],
) -> dict[str, list[str]]:
    """Every secret reference in the task definitions -> where it is used (`key: VARIABLE`)."""
    refs: dict[str, list[str]] = {}
    for key, task_definition in task_definitions_by_key.items():
        for container in container_definitions(task_definition):
            for item in container.get("secrets") or []:
                if item.get("valueFrom"):
                    refs.setdefault(str(item["valueFrom"]), []).append(f"{key}: {item.get('name')}")
            credentials = (container.get("repositoryCredentials") or {}).get("credentialsParameter")
            if credentials:
                refs.setdefault(str(credentials), []).append(f"{key}: repositoryCredentials")
    return refs


def named_secrets_of(
    task_definitions_by_key: Mapping[str, Mapping[str, Any]],
    profiles: Mapping[str, str | ServiceLike | None],
    inventory: Inventory | None = None,
) -> dict[str, list[str]]:
    """Secrets the app reads by a name in its plain environment (the signing and keyset
    secrets) -> where (`key: VARIABLE`). A name injected from `secrets` is unknown here."""
    inventory = inventory or load_inventory()
    refs: dict[str, list[str]] = {}
    for key, task_definition in task_definitions_by_key.items():
        profile, container_name = _profile_of(profiles.get(key))
        container = _app_container(task_definition, key, container_name, inventory)
        if profile is None or container is None:
            continue
        plain, secret_names = container_env(container)
        view = _Values(plain, secret_names, inventory)
        for var in inventory.for_profile(profile):
            value = view.explicit(var.name)
            if var.names_secret is None or value is None:
                continue
            if condition_holds(var.names_secret, view.effective):
                refs.setdefault(value.strip(), []).append(f"{key}: {var.name}")
    return refs


def _app_container(
    task_definition: Mapping[str, Any], key: str, wanted: str | None, inventory: Inventory
) -> Mapping[str, Any] | None:
    containers = container_definitions(task_definition)
    for name in (wanted, key):
        for container in containers:
            if name and container.get("name") == name:
                return container
    for container in containers:
        plain, secret_names = container_env(container)
        if any(inventory.get(name) for name in [*plain, *secret_names]):
            return container
    return containers[0] if containers else None


def _plaintext_problems(
    key: str, task_definition: Mapping[str, Any], inventory: Inventory
) -> list[Problem]:
    found = []
    for container in container_definitions(task_definition):
        plain, _ = container_env(container)
        where = f"container {container.get('name')}"
        for name, value in plain.items():
            var = inventory.get(name)
            if var is not None and var.from_secret:
                message = f"is in plain `environment` of {where}; it must come from a secret"
            elif url_password(value):
                message = f"carries a password inside its URL in plain `environment` of {where}"
            elif is_secret(name, value, inventory):
                message = f"looks like a secret but is in plain `environment` of {where}"
            else:
                continue
            fix = (
                f"store it in Secrets Manager and reference it from `secrets` "
                f"(Terraform: api_secrets), then remove {name} from `environment`"
            )
            found.append(Problem(PLAINTEXT_SECRETS, name, message, fix, ERROR, key))
    return found


def _profile_of(entry: str | ServiceLike | None) -> tuple[str | None, str | None]:
    if entry is None or isinstance(entry, str):
        return entry, None
    return entry.profile, entry.container


def _replicas_of(api_desired_count: int | Mapping[str, int | None] | None, key: str) -> int | None:
    if api_desired_count is None or isinstance(api_desired_count, int):
        return api_desired_count
    return api_desired_count.get(key)


def preflight_problems(
    task_definitions_by_key: Mapping[str, Mapping[str, Any]],
    profiles: Mapping[str, str | ServiceLike | None],
    api_desired_count: int | Mapping[str, int | None] | None = None,
    skip: Collection[str] = frozenset(),
    *,
    environment_name: str | None = None,
    strict: bool = False,
    inventory: Inventory | None = None,
) -> list[Problem]:
    """The checks that need no AWS call, on the task definitions a deploy is about to use.

    `task_definitions_by_key`: service key -> register-ready task definition (the moved ones).
    `profiles`: service key -> profile, or -> the configured Service (its `profile` and
    `container` are used); give EVERY service of the environment, so the billing topology sees
    a worker that is not being moved. `api_desired_count`: the API's desired count, or service
    key -> desired count. `skip`: check names from PREFLIGHT_CHECKS to leave out.
    """
    inventory = inventory or load_inventory()
    skip = validate_skip(skip)
    found: list[Problem] = []
    replicated_api = False
    for key, task_definition in task_definitions_by_key.items():
        profile, container_name = _profile_of(profiles.get(key))
        found.extend(_plaintext_problems(key, task_definition, inventory))
        if profile is None:
            continue
        container = _app_container(task_definition, key, container_name, inventory)
        if container is None:
            found.append(
                Problem(
                    ENV_RULES,
                    None,
                    "has no container definitions",
                    "render the task definition from the service's live one",
                    ERROR,
                    key,
                )
            )
            continue
        plain, secret_names = container_env(container)
        replicas = _replicas_of(api_desired_count, key) if profile == "api" else None
        replicated_api = replicated_api or (replicas or 0) > 1
        problems = check_environment(
            plain,
            profile,
            environment_name=environment_name,
            strict=strict,
            api_replicas=replicas,
            from_secrets=secret_names,
            inventory=inventory,
        )
        found.extend(replace(problem, service=key) for problem in problems)
    if replicated_api and BILLING_TOPOLOGY not in skip:
        has_worker = any(_profile_of(entry)[0] == "worker" for entry in profiles.values())
        if not has_worker:
            found.append(
                Problem(
                    BILLING_TOPOLOGY,
                    None,
                    "the API runs more than one replica but no service has profile worker; "
                    "billing retries need a dedicated worker service",
                    "add the billing worker service to shipline.yml with `profile: worker` "
                    "(ENABLE_BILLING_RETRY_WORKER=true, BILLING_RETRY_DEPLOYMENT_MODE=dedicated)",
                )
            )
    return [problem for problem in found if problem.check not in skip]


def count_errors(problems: Iterable[Problem]) -> int:
    return sum(1 for problem in problems if problem.is_error)
