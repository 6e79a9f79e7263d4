"""shipline.yml: loading, variables, defaults, and every problem reported with its path."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from shipline.config import expand_variables, load_config
from shipline.errors import EXIT_REFUSED, ConfigError, UsageError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "config"
ENV = {"ECS_CLUSTER_NAME": "agent-saas-production", "API_BASE_URL": "https://api.example.com"}


def test_valid_file_becomes_typed_objects_with_defaults():
    config = load_config(FIXTURES / "valid.yml", env=ENV)
    production = config.environment("production")
    assert production.cluster == "agent-saas-production"
    assert production.region == "us-east-1"
    api, web, worker = (production.services[key] for key in ("api", "web", "worker"))
    assert api.health == "https://api.example.com/health/ready"
    assert web.health == "https://app.example.com/api/health/ready"  # ${VAR:-default}
    assert (web.service, web.container, web.image) == ("agent-saas-production-web", "web", "web")
    assert (worker.container, worker.image, worker.profile) == ("api", "api", "worker")
    assert production.migrate is not None
    assert production.migrate.container == "api"  # defaults to the service's container
    assert production.migrate.command == ("starter-console", "release", "db")
    assert production.migrate.timeout == 900
    assert (production.wait.timeout, production.wait.poll) == (600, 0.5)
    assert production.health.successes == 2
    assert production.health.timeout == 300
    assert production.health.interval == 5
    assert production.health.request_timeout == 5
    assert production.rollback == "auto"
    assert production.history_bucket == "my-releases"
    assert production.history_prefix == "shipline/production/"
    assert production.services_for_image("api") == [api, worker]


def test_second_environment_defaults_names_to_keys():
    staging = load_config(FIXTURES / "valid.yml", env=ENV).environment("staging")
    api = staging.services["api"]
    assert (api.service, api.container, api.image, api.health) == ("api", "api", "api", None)
    assert staging.migrate is None
    assert staging.rollback == "off"
    assert staging.history_prefix == "staging/"
    assert (staging.wait.timeout, staging.wait.poll) == (900, 10)


def test_images_section():
    images = load_config(FIXTURES / "valid.yml", env=ENV).images
    assert images["api"].dockerfile == "apps/api/Dockerfile"
    assert images["web"].dockerfile == "apps/web/Containerfile"
    assert images["web"].target == "runtime"
    assert images["web"].build_args == {"NODE_ENV": "production"}


def test_unknown_environment_names_the_known_ones():
    config = load_config(FIXTURES / "valid.yml", env=ENV)
    with pytest.raises(UsageError, match=r"unknown environment 'prod' .*production, staging"):
        config.environment("prod")


@pytest.mark.parametrize(
    ("text", "env", "expected"),
    [
        ("${A}", {"A": "x"}, "x"),
        ("${A}/${B}", {"A": "x", "B": "y"}, "x/y"),
        ("${A:-fallback}", {}, "fallback"),
        ("${A:-fallback}", {"A": ""}, "fallback"),
        ("${A:-fallback}", {"A": "set"}, "set"),
        ("cost $$5", {}, "cost $5"),
        ("plain", {}, "plain"),
    ],
)
def test_variable_expansion(text, env, expected):
    assert expand_variables({"k": [text]}, env) == ({"k": [expected]}, [])


def test_missing_variable_names_itself_and_its_place():
    _, problems = expand_variables({"a": {"b": ["${NOPE}"]}}, {})
    assert problems == ["a.b[0]: variable NOPE is not set"]


def test_malformed_reference_is_a_problem():
    _, problems = expand_variables({"a": "${not valid}"}, {})
    assert problems == ["a: '${not valid}' is not a ${VAR} reference"]


def test_every_problem_is_reported_at_once(tmp_path):
    path = tmp_path / "shipline.yml"
    path.write_text(
        "version: 2\n"
        "environments:\n"
        "  production:\n"
        "    cluster: ${MISSING}\n"
        "    history: s3://releases/p\n"
        "    services:\n"
        "      web: {health: nope, profile: frontend}\n"
        "    rollback: maybe\n"
        "    extra: 1\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    assert caught.value.problems == [
        "environments.production.cluster: variable MISSING is not set",
        "environments.production.extra: unknown key (expected one of: cluster, health, history, "
        "migrate, notify, region, registry, rollback, services, wait)",
        'environments.production.rollback: expected auto or off, got "maybe"',
        "environments.production.services.web.health: expected a URL (http:// or https://), "
        'got "nope"',
        'environments.production.services.web.profile: expected api, web or worker, got "frontend"',
        "version: expected 1 (the only format version), got 2",
    ]
    assert caught.value.exit_code == EXIT_REFUSED


def test_a_migrate_service_naming_no_service_is_one_line_even_with_a_newline_key(tmp_path):
    """Names from the file are quoted: a key holding a newline cannot split a problem line."""
    path = tmp_path / "shipline.yml"
    path.write_text(
        "version: 1\n"
        "environments:\n"
        "  production:\n"
        "    cluster: c\n"
        "    history: s3://releases/p\n"
        '    services: {"\\n": {}}\n'
        "    migrate: {service: api, command: [migrate]}\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    assert all("\n" not in problem for problem in caught.value.problems)
    assert (
        'environments.production.migrate.service: "api" is not one of this environment\'s '
        'services ("\\n")'
    ) in caught.value.problems


BROKEN = {
    "unknown-key.yml": "environments.production.services.api.helth: unknown key",
    "wrong-type.yml": 'environments.production.wait.timeout: expected a number, got "soon"',
    "missing-variable.yml": "environments.production.cluster: variable "
    "SHIPLINE_TEST_UNSET_CLUSTER is not set",
    "bad-url.yml": "environments.production.services.web.health: expected a URL",
    "no-environments.yml": "environments: expected at least one environment",
    "not-yaml.yml": "line 5, column 4: not valid YAML",
    "duplicate-key.yml": "the key 'cluster' is given twice",
    "bad-history.yml": "environments.production.history: expected an S3 location",
    "empty.yml": "the file is empty",
    "migrate-unknown-service.yml": 'environments.production.migrate.service: "db" is not one',
    "does-not-exist.yml": "file not found: it does not exist",
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_config_check_refuses_broken_files_with_a_clear_line(name):
    path = FIXTURES / "broken" / name
    result = subprocess.run(
        [sys.executable, "-m", "shipline", "config", "check", "--config", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == EXIT_REFUSED
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert any(line.startswith(f"{path}: ") and BROKEN[name] in line for line in lines), lines
    assert lines[-1].startswith(f"{path}: invalid (")
    assert "pass --config" not in result.stderr  # the path was given: naming it again is no help


def test_a_missing_default_config_suggests_passing_one(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "shipline", "config", "check"],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if k != "SHIPLINE_CONFIG"},
    )
    assert result.returncode == EXIT_REFUSED
    assert "there is no shipline.yml here (pass --config or set SHIPLINE_CONFIG)" in result.stderr


def test_config_check_accepts_the_valid_file_and_reports_json():
    result = subprocess.run(
        [sys.executable, "-m", "shipline", "config", "check", "--json"],
        capture_output=True,
        text=True,
        check=False,
        env={**ENV, "SHIPLINE_CONFIG": str(FIXTURES / "valid.yml"), "PATH": ""},
    )
    assert result.returncode == 0, result.stderr
    assert '"valid": true' in result.stdout
    assert '"production": [\n      "api",\n      "web",\n      "worker"' in result.stdout


def _with_health(tmp_path: Path, health: object) -> Path:
    import yaml

    document = {
        "version": 1,
        "environments": {
            "production": {
                "cluster": "c",
                "history": "s3://my-releases/shipline",
                "services": {"api": {"health": health}},
            }
        },
    }
    target = tmp_path / "shipline.yml"
    target.write_text(yaml.safe_dump(document), encoding="utf-8")
    return target


def test_a_health_check_may_also_expect_fields_of_the_json_body(tmp_path):
    url = "https://api.example.com/health/ready"
    both = load_config(_with_health(tmp_path, {"url": url, "expect": {"status": "ok"}}))
    api = both.environment("production").services["api"]
    assert (api.health, dict(api.health_expect)) == (url, {"status": "ok"})
    plain = load_config(_with_health(tmp_path, url)).environment("production").services["api"]
    assert (plain.health, dict(plain.health_expect)) == (url, {})


@pytest.mark.parametrize(
    ("health", "problem"),
    [
        ({"expect": {"status": "ok"}}, "services.api.health: missing required key 'url'"),
        ({"url": "nope"}, "services.api.health.url: expected a URL"),
        ({"url": "https://a/h", "expect": {}}, "health.expect: expected at least one field"),
        ({"url": "https://a/h", "expect": {"status": ["ok"]}}, "health.expect.status: expected a"),
        ({"url": "https://a/h", "exepct": {"status": "ok"}}, "services.api.health.exepct: unknown"),
        (5, "services.api.health: expected an object, got 5"),
    ],
)
def test_a_wrong_health_check_is_refused_with_its_place(tmp_path, health, problem):
    with pytest.raises(ConfigError) as refused:
        load_config(_with_health(tmp_path, health))
    assert any(problem in line for line in refused.value.problems), refused.value.problems


def _two_environments(tmp_path: Path, **top: object) -> Path:
    import yaml

    def environment(name: str) -> dict[str, object]:
        return {"cluster": name, "history": "s3://my-releases/shipline", "services": {"api": {}}}

    document = {
        "version": 1,
        "environments": {"staging": environment("staging"), "production": environment("prod")},
        **top,
    }
    document["environments"]["production"]["registry"] = (  # type: ignore[index]
        "222222222222.dkr.ecr.eu-west-1.amazonaws.com/shop"
    )
    target = tmp_path / "shipline.yml"
    target.write_text(yaml.safe_dump(document), encoding="utf-8")
    return target


def test_the_promotion_order_and_a_target_registry_are_read(tmp_path):
    config = load_config(_two_environments(tmp_path, promotion=["staging", "production"]), env={})
    assert config.promotion == ("staging", "production")
    production = config.environment("production")
    assert production.registry == "222222222222.dkr.ecr.eu-west-1.amazonaws.com/shop"
    assert config.environment("staging").registry is None
    assert load_config(_two_environments(tmp_path), env={}).promotion == ()


@pytest.mark.parametrize(
    ("promotion", "problem"),
    [
        (["staging", "qa"], 'promotion[1]: "qa" is not one of the environments'),
        (["staging"], "promotion: expected a list of two or more different environment names"),
        (["staging", "staging"], "promotion: expected a list of two or more different"),
    ],
)
def test_a_wrong_promotion_order_is_refused_with_its_place(tmp_path, promotion, problem):
    with pytest.raises(ConfigError) as caught:
        load_config(_two_environments(tmp_path, promotion=promotion), env={})
    assert any(line.startswith(problem) for line in caught.value.problems), caught.value.problems


def test_a_registry_with_a_scheme_or_upper_case_is_refused(tmp_path):
    import yaml

    path = _two_environments(tmp_path)
    for bad in ("https://ghcr.io/acme", "ghcr.io/Acme/shop"):
        document = yaml.safe_load(path.read_text())
        document["environments"]["production"]["registry"] = bad
        path.write_text(yaml.safe_dump(document))
        with pytest.raises(ConfigError) as caught:
            load_config(path, env={})
        assert caught.value.problems[0].startswith(
            "environments.production.registry: expected a registry host with an optional path"
        )
