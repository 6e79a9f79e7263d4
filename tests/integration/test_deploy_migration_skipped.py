"""A deploy that runs no migration says so and why: on the terminal, in the GitHub summary, in
--json and in the release record (never a silent skip)."""

from __future__ import annotations

import pytest

from support.deploy_support import records, run_cli, write_config

MIGRATE = {"service": "api", "container": "api", "command": ["just", "migrate"], "timeout": 60}


@pytest.mark.parametrize(
    ("migrate", "keys", "flags", "reason"),
    [
        (None, ("api", "web"), (), "shipline.yml has no `migrate` section for this environment"),
        ("none", ("api", "web"), (), "shipline.yml says `migrate: none` for this environment"),
        (MIGRATE, ("api", "web"), ("--no-migrate",), "asked with --no-migrate"),
        (MIGRATE, ("web",), (), "service 'api', whose new version runs it, is not moving"),
    ],
    ids=["no-section", "migrate-none", "no-migrate", "service-not-moving"],
)
def test_a_deploy_without_a_migration_says_why(
    capsys, sandbox, environment, tmp_path, monkeypatch, migrate, keys, flags, reason
):
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path / "outputs"))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    config = write_config(tmp_path, environment, migrate=migrate)
    images = [f"--image={key}={environment.image(key, 'v2')}" for key in keys]

    ran = run_cli(capsys, "deploy", "--config", str(config), "-e", "sim", *images, *flags, "--json")

    assert ran.code == 0, ran.err
    assert f"migration: skipped ({reason})" in ran.err
    assert ran.json()["migrate"] == {"skipped": reason}
    assert f"**Migration:** skipped: {reason}\n" in summary.read_text()
    [record] = records(environment, sandbox.client("s3"))
    assert record["migrate"] == {"skipped": reason}
    assert sandbox.calls().get("ecs.RunTask", 0) == 0
