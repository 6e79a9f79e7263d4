"""shipline.yml: load it, expand ${VAR}, validate it against the schema, return typed objects.

Every problem in a file is reported at once, each with its path inside the document, before
any command touches AWS. The schema (`schemas/shipline.schema.json`) is the one definition of
the shape and of the defaults; this module adds what a schema cannot say (variables, references
between sections) and turns the document into plain, immutable records.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from shipline import schemas
from shipline.errors import ConfigError, UsageError

SCHEMA = "shipline"
MIGRATE_NONE = "none"  # `migrate: none`: this app has no migration, on purpose
# A value that holds a token must come from a variable (a secret), never be written in the file.
_ONE_VARIABLE = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*(?::-)?\}")
_VARIABLE = re.compile(r"\$(?:\$|\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\{[^}]*\}?)")


@dataclass(frozen=True)
class Service:
    key: str
    service: str
    container: str
    image: str
    health: str | None = None  # the health URL
    profile: str | None = None
    # JSON body fields the health URL's 2xx answer must have (`health: {url, expect}`).
    health_expect: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Migrate:
    service: str
    container: str
    command: tuple[str, ...]
    timeout: float


@dataclass(frozen=True)
class Wait:
    timeout: float
    poll: float
    heartbeat: float = 10.0  # seconds between the progress lines of every wait (schema default)


@dataclass(frozen=True)
class HealthSettings:
    timeout: float
    interval: float
    successes: int
    request_timeout: float
    heartbeat: float = 10.0  # wait.heartbeat: the health checks are a wait too


@dataclass(frozen=True)
class Notify:
    """Where a ping goes when a release ends. The URL holds a token: no repr shows it."""

    webhook: str = field(repr=False)  # "" when its variable is empty: no ping
    timeout: float = 3.0  # seconds of one attempt, connecting to the last byte (schema default)


@dataclass(frozen=True)
class Environment:
    name: str
    region: str | None
    cluster: str
    history: str
    services: dict[str, Service]
    migrate: Migrate | None
    wait: Wait
    health: HealthSettings
    rollback: str
    # `migrate: none`: the file says on purpose that this app has no migration.
    migrate_none: bool = False
    # host[:port][/prefix] this environment pulls promoted images from (None: where they are).
    registry: str | None = None
    notify: Notify | None = None

    @property
    def history_bucket(self) -> str:
        return self.history.removeprefix("s3://").split("/", 1)[0]

    @property
    def history_prefix(self) -> str:
        """The key prefix of this environment's records and lock, ending in '/'."""
        base = self.history.removeprefix("s3://").partition("/")[2].strip("/")
        return f"{base}/{self.name}/" if base else f"{self.name}/"

    def services_for_image(self, image_key: str) -> list[Service]:
        return [svc for svc in self.services.values() if svc.image == image_key]


@dataclass(frozen=True)
class ImageSpec:
    name: str
    context: str
    dockerfile: str
    target: str | None = None
    build_args: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Config:
    version: int
    environments: dict[str, Environment]
    images: dict[str, ImageSpec]
    source: str
    # The order releases go through the environments (`promotion:`), empty when not set.
    promotion: tuple[str, ...] = ()

    def environment(self, name: str) -> Environment:
        try:
            return self.environments[name]
        except KeyError:
            known = ", ".join(sorted(self.environments)) or "none"
            raise UsageError(
                f"unknown environment '{name}' in {self.source} (known: {known})"
            ) from None


def config_path(path: str | os.PathLike[str] | None = None) -> Path:
    return Path(path or os.environ.get("SHIPLINE_CONFIG") or "shipline.yml")


def load_config(
    path: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    *,
    needed: Callable[[str], bool] | None = None,
) -> Config:
    """Read, expand, validate and type `path`; ConfigError lists every problem.

    `needed(path_text)` says which values a command reads: a variable left unset in a value it
    does not read is no problem (that value is then not to be used).
    """
    source = config_path(path)
    document = read_yaml(source)
    written = secret_literal_problems(document)
    expanded, problems = expand_variables(document, os.environ if env is None else env)
    # A value whose variable is missing is reported once, for the variable, not again for its shape.
    unset = tuple(problem.split(": ", 1)[0] + ": " for problem in problems)
    if needed is not None:
        problems = [p for p in problems if needed(p.split(": ", 1)[0])]
    problems += [p for p in schemas.problems(SCHEMA, expanded) if not p.startswith(unset or "\0")]
    problems += reference_problems(expanded)
    problems = written + [p for p in problems if not p.startswith(_paths_of(written))]
    if problems:
        raise ConfigError(str(source), problems)
    return build_config(expanded, str(source))


def load_environment(
    path: str | os.PathLike[str] | None, name: str, *, uses: Iterable[str] | None = None
) -> Environment:
    """One environment of `path`, needing only the variables of the values a command reads.

    Variables of other environments (and of `images:`) are never needed. `uses` narrows it
    further to keys of the environment, as patterns (`history`, `services.*.service`); None
    means all of them. So `lock` and `history` run before Terraform has exported the cluster
    and URLs that a deploy needs.
    """
    prefix = f"environments.{name}"
    patterns = [f"{prefix}.{pattern}" for pattern in uses] if uses is not None else [f"{prefix}*"]

    def needed(where: str) -> bool:
        return any(fnmatch.fnmatchcase(where, pattern) for pattern in patterns)

    return load_config(path, needed=needed).environment(name)


# What a command reads of its environment, for load_environment's `uses`.
USES_HISTORY = ("region", "history")
USES_SERVICES = (
    *USES_HISTORY,
    "cluster",
    "services.*.service",
    "services.*.container",
    "services.*.image",
)


def missing_file_problem(source: Path) -> str:
    """Only the default path gets the hint about --config: a path given was given on purpose."""
    if str(source) == "shipline.yml" and not os.environ.get("SHIPLINE_CONFIG"):
        return (
            "file not found: there is no shipline.yml here (pass --config or set SHIPLINE_CONFIG)"
        )
    return "file not found: it does not exist"


def read_yaml(source: Path) -> Any:
    import yaml

    try:
        text = source.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(str(source), [missing_file_problem(source)]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(source), [f"cannot be read: {exc}"]) from None
    try:
        document = yaml.load(text, Loader=_unique_key_loader())  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(str(source), [f"{where}not valid YAML: {reason}"]) from None
    if document is None:
        raise ConfigError(str(source), ["the file is empty"])
    return document


@cache
def _unique_key_loader() -> type:
    import yaml

    class UniqueKeyLoader(yaml.SafeLoader):
        """A safe loader that refuses a key given twice (PyYAML keeps the last silently)."""

    def construct_mapping(loader: Any, node: Any, deep: bool = False) -> dict[Any, Any]:
        seen = set()
        for key_node, _ in node.value:
            key = loader.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"the key '{key}' is given twice", key_node.start_mark
                )
            seen.add(key)
        return yaml.SafeLoader.construct_mapping(loader, node, deep)

    UniqueKeyLoader.add_constructor(
        yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping
    )
    return UniqueKeyLoader


def expand_variables(
    document: Any, env: Mapping[str, str], path: tuple[str | int, ...] = ()
) -> tuple[Any, list[str]]:
    """Expand ${VAR} and ${VAR:-default} in every string; `$$` stays a literal `$`."""
    if isinstance(document, dict):
        result, problems = {}, []
        for key, value in document.items():
            result[key], found = expand_variables(value, env, (*path, key))
            problems += found
        return result, problems
    if isinstance(document, list):
        items, problems = [], []
        for index, value in enumerate(document):
            item, found = expand_variables(value, env, (*path, index))
            items.append(item)
            problems += found
        return items, problems
    if not isinstance(document, str):
        return document, []
    problems = []

    def substitute(match: re.Match[str]) -> str:
        text = match.group(0)
        if text == "$$":
            return "$"
        name, default = match.group(1), match.group(2)
        if name is None:
            problems.append(f"{schemas.path_text(path)}: '{text}' is not a ${{VAR}} reference")
            return text
        value = env.get(name)
        if default is not None and not value:
            return default
        if value is None:
            problems.append(f"{schemas.path_text(path)}: variable {name} is not set")
            return ""
        return value

    return _VARIABLE.sub(substitute, document), problems


def secret_literal_problems(document: Any) -> list[str]:
    """`notify.webhook` holds a token: the file names the variable that holds it (`${NAME}`,
    or `${NAME:-}` when an unset variable means no ping); a URL written in the file would be
    in the repository's history. The problem never quotes the value."""
    problems = []
    environments = document.get("environments") if isinstance(document, dict) else None
    for env_name, environment in _items(environments):
        webhook = _get(_get(environment, "notify"), "webhook")
        if isinstance(webhook, str) and not _ONE_VARIABLE.fullmatch(webhook.strip()):
            where = schemas.path_text(("environments", env_name, "notify", "webhook"))
            problems.append(
                f"{where}: expected one ${{VAR}} reference such as ${{SHIPLINE_WEBHOOK_URL}} "
                "(the URL holds a token: keep it in a secret, not in the file)"
            )
    return problems


def _paths_of(problems: list[str]) -> tuple[str, ...]:
    """The `path: ` prefixes of `problems` (one problem per place is enough)."""
    return tuple(problem.split(": ", 1)[0] + ": " for problem in problems) or ("\0",)


def reference_problems(document: Any) -> list[str]:
    """What the schema cannot check: names that must point at other parts of the file."""
    problems = []
    environments = document.get("environments") if isinstance(document, dict) else None
    for env_name, environment in _items(environments):
        migrate, services = _get(environment, "migrate"), _get(environment, "services")
        wanted = _get(migrate, "service")
        if isinstance(wanted, str) and isinstance(services, dict) and wanted not in services:
            # Names from the file are quoted as JSON: a key may hold any character, newlines too.
            where = schemas.path_text(("environments", env_name, "migrate", "service"))
            known = ", ".join(json.dumps(key) for key in services)
            problems.append(
                f"{where}: {json.dumps(wanted)} is not one of this environment's services ({known})"
            )
    promotion = _get(document, "promotion")
    for index, name in enumerate(promotion if isinstance(promotion, list) else []):
        if isinstance(name, str) and isinstance(environments, dict) and name not in environments:
            known = ", ".join(json.dumps(key) for key in environments)
            problems.append(
                f"{schemas.path_text(('promotion', index))}: {json.dumps(name)} is not one of "
                f"the environments ({known})"
            )
    return problems


def config_warnings(config: Config) -> list[str]:
    """What is valid but says less than it should: an environment silent about its migration
    deploys without one, so it must say `migrate: none` when that is meant."""
    return [
        f"environments.{name}.migrate: missing: deploys run no migration (and say so); "
        "add a `migrate` section, or `migrate: none` if the app has none"
        for name, environment in sorted(config.environments.items())
        if environment.migrate is None and not environment.migrate_none
    ]


def _items(value: Any) -> list[tuple[Any, Any]]:
    return list(value.items()) if isinstance(value, dict) else []


def _get(value: Any, key: str) -> Any:
    return value.get(key) if isinstance(value, dict) else None


def _health_url(health: str | dict[str, Any] | None) -> str | None:
    """`health: URL` and `health: {url: URL, expect: ...}` name the URL alike."""
    return health.get("url") if isinstance(health, dict) else health


def _defaults(definition: str) -> dict[str, Any]:
    properties = schemas.load(SCHEMA)["$defs"][definition]["properties"]
    return {key: spec["default"] for key, spec in properties.items() if "default" in spec}


def build_config(document: dict[str, Any], source: str) -> Config:
    environments = {name: _environment(name, raw) for name, raw in document["environments"].items()}
    images = {
        name: ImageSpec(
            name=name,
            context=raw["context"],
            dockerfile=raw.get("dockerfile") or f"{raw['context'].rstrip('/')}/Dockerfile",
            target=raw.get("target"),
            build_args=dict(raw.get("build_args", {})),
        )
        for name, raw in document.get("images", {}).items()
    }
    promotion = tuple(document.get("promotion", ()))
    return Config(document["version"], environments, images, source, promotion)


def _environment(name: str, raw: dict[str, Any]) -> Environment:
    services = {
        key: Service(
            key=key,
            service=spec.get("service", key),
            container=spec.get("container", key),
            image=spec.get("image", key),
            health=_health_url(spec.get("health")),
            profile=spec.get("profile"),
            health_expect=dict(_get(spec.get("health"), "expect") or {}),
        )
        for key, spec in raw["services"].items()
    }
    migrate = None
    if "migrate" in raw and raw["migrate"] != MIGRATE_NONE:
        spec = {**_defaults("migrate"), **raw["migrate"]}
        migrate = Migrate(
            service=spec["service"],
            container=spec.get("container", services[spec["service"]].container),
            command=tuple(spec["command"]),
            timeout=float(spec["timeout"]),
        )
    wait = {**_defaults("wait"), **raw.get("wait", {})}
    health = {**_defaults("health"), **raw.get("health", {})}
    return Environment(
        name=name,
        region=raw.get("region"),
        cluster=raw["cluster"],
        history=raw["history"],
        services=services,
        migrate=migrate,
        wait=Wait(
            timeout=float(wait["timeout"]),
            poll=float(wait["poll"]),
            heartbeat=float(wait["heartbeat"]),
        ),
        health=HealthSettings(
            timeout=float(health["timeout"]),
            interval=float(health["interval"]),
            successes=int(health["successes"]),
            request_timeout=float(health["request_timeout"]),
            heartbeat=float(wait["heartbeat"]),
        ),
        rollback=raw.get("rollback", _defaults("environment")["rollback"]),
        migrate_none=raw.get("migrate") == MIGRATE_NONE,
        registry=raw.get("registry"),
        notify=_notify(raw.get("notify")),
    )


def _notify(raw: dict[str, Any] | None) -> Notify | None:
    if raw is None:
        return None
    spec = {**_defaults("notify"), **raw}
    return Notify(webhook=spec["webhook"].strip(), timeout=float(spec["timeout"]))
