"""The migration rule made explicit: a config says how it migrates (`migrate: {...}` or
`migrate: none`), `config check` flags one that says nothing, and a deploy that runs no
migration says why (plan), in its summary and in its record."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from shipline import config as shipline_config
from shipline.cli import main
from shipline.config import load_config
from shipline.release import plan
from shipline.release.deploy import DeployResult
from shipline.release.records import MigrateRecord, ReleaseRecord, new_release_id
from shipline.release.summary import deploy_summary

MIGRATE = {"service": "api", "command": ["starter-console", "release", "db"]}


def write(tmp_path: Path, migrate: object = None, *, missing: bool = False) -> Path:
    environment = {
        "cluster": "c",
        "history": "s3://my-releases/shipline",
        "services": {"api": {}, "web": {}},
    }
    if not missing:
        environment["migrate"] = migrate
    path = tmp_path / "shipline.yml"
    path.write_text(yaml.safe_dump({"version": 1, "environments": {"production": environment}}))
    return path


def check(capsys, path: Path, *extra: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["config", "check", "--config", str(path), *extra])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# --- shipline.yml: a config says how it migrates ----------------------------------------------


def test_config_check_flags_an_environment_that_says_nothing_about_its_migration(
    capsys, tmp_path, monkeypatch
):
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    code, _, err = check(capsys, write(tmp_path, missing=True))
    assert code == 0  # a warning: existing configs keep working
    assert "warning: environments.production.migrate: missing: deploys run no migration" in err
    assert "or `migrate: none` if the app has none" in err
    assert "valid (production: api, web), 1 warning" in err
    assert "::warning title=config check" in err  # an annotation on the run


def test_config_check_json_lists_the_warning(capsys, tmp_path, monkeypatch):
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    code, out, _ = check(capsys, write(tmp_path, missing=True), "--json")
    assert code == 0
    result = json.loads(out)
    assert result["valid"] is True
    assert [w.split(": ")[0] for w in result["warnings"]] == ["environments.production.migrate"]


@pytest.mark.parametrize("migrate", ["none", MIGRATE])
def test_a_config_that_says_how_it_migrates_is_not_flagged(capsys, tmp_path, migrate):
    code, out, err = check(capsys, write(tmp_path, migrate), "--json")
    assert code == 0, err
    assert json.loads(out)["warnings"] == []
    assert "warning" not in err


def test_migrate_none_is_no_migration_on_purpose(tmp_path):
    config = load_config(write(tmp_path, "none"), env={})
    production = config.environment("production")
    assert production.migrate is None and production.migrate_none
    assert shipline_config.config_warnings(config) == []


@pytest.mark.parametrize(
    ("migrate", "problem"),
    [
        ("nothing", 'migrate: expected none, or a migration {service, command}, got "nothing"'),
        (None, "migrate: expected an object, got null"),
    ],
)
def test_migrate_is_none_or_a_migration(capsys, tmp_path, migrate, problem):
    code, _, err = check(capsys, write(tmp_path, migrate))
    assert code == 2
    assert f"environments.production.{problem}" in err


# --- plan: why a release runs no migration ----------------------------------------------------


def environment(tmp_path: Path, migrate: object = None, *, missing: bool = False):
    return load_config(write(tmp_path, migrate, missing=missing), env={}).environment("production")


def test_a_migration_runs_when_configured_asked_and_its_service_moves(tmp_path):
    configured = environment(tmp_path, MIGRATE)
    assert plan.migration_skip_reason(configured, {"api": object()}, skip=False) is None
    assert plan.migration_applies(configured, {"api": object()}, skip=False)


@pytest.mark.parametrize(
    ("migrate", "missing", "moves", "skip", "reason"),
    [
        (None, True, {"api"}, False, "shipline.yml has no `migrate` section for this environment"),
        ("none", False, {"api"}, False, "shipline.yml says `migrate: none` for this environment"),
        (MIGRATE, False, {"api"}, True, "asked with --no-migrate"),
        (MIGRATE, False, {"web"}, False, "service 'api', whose new version runs it, is not moving"),
        (MIGRATE, False, set(), False, "service 'api', whose new version runs it, is not moving"),
    ],
)
def test_every_release_without_a_migration_has_a_reason(
    tmp_path, migrate, missing, moves, skip, reason
):
    configured = environment(tmp_path, migrate, missing=missing)
    moving = {key: object() for key in moves}
    assert plan.migration_skip_reason(configured, moving, skip=skip) == reason
    assert not plan.migration_applies(configured, moving, skip=skip)


# --- summary and record say it ----------------------------------------------------------------


def test_the_summary_says_the_migration_was_skipped_and_why():
    result = DeployResult("20261126T071500Z-1a2b3c", "succeeded", 0)
    result.migration_skipped = "asked with --no-migrate"
    text = deploy_summary(result, "production")
    assert "**Migration:** skipped: asked with --no-migrate\n" in text
    assert result.to_json()["migrate"] == {"skipped": "asked with --no-migrate"}


def test_a_record_of_a_skipped_migration_fits_the_schema_and_reads_back():
    record = ReleaseRecord(release_id=new_release_id(), environment="production")
    record.migrate = MigrateRecord(skipped="shipline.yml says `migrate: none`")
    stored = record.to_dict()
    assert stored["migrate"] == {"skipped": "shipline.yml says `migrate: none`"}
    record.validate()
    assert ReleaseRecord.from_dict(stored).migrate == record.migrate


def test_a_record_of_a_migration_that_ran_keeps_its_form():
    ran = MigrateRecord("arn:aws:ecs:us-east-1:1:task/c/abc", None, 0, None)
    assert ran.to_dict() == {
        "task_arn": "arn:aws:ecs:us-east-1:1:task/c/abc",
        "task_definition": None,
        "exit_code": 0,
        "reason": None,
    }


def test_migrate_alone_refuses_an_environment_that_says_migrate_none(capsys, tmp_path):
    path = write(tmp_path, "none")
    capsys.readouterr()
    code = main(["migrate", "--config", str(path), "-e", "production", "--image", "api=x:1"])
    assert code == 2
    assert "environment 'production' says `migrate: none`" in capsys.readouterr().err
