"""The deploy's GitHub step outputs and summary, built from a result (pure)."""

from __future__ import annotations

from shipline.config import Service
from shipline.release.deploy import DeployResult, ServiceRun
from shipline.release.health import HealthResult
from shipline.release.migrate import MigrationResult
from shipline.release.summary import deploy_outputs, deploy_summary

ARN = "arn:aws:ecs:us-east-1:123456789012:task-definition/{}"


def result() -> DeployResult:
    api = ServiceRun(
        key="api",
        service=Service("api", "agent-saas-api", "api", "api"),
        description={"desiredCount": 2},
        live={"taskDefinitionArn": ARN.format("agent-saas-api:4")},
        target={},
        image="ghcr.io/acme/api:v5",
        new_task_definition=ARN.format("agent-saas-api:5"),
        result="rollout succeeded: COMPLETED, 2/2 running; rolled back",
    )
    return DeployResult(
        release_id="20261126T071500Z-1a2b3c",
        status="rolled_back",
        exit_code=1,
        error="verification failed: web: HTTP 503; rolled back",
        services={"api": api},
        migration=MigrationResult("arn:task", ARN.format("agent-saas-api:5"), 0, None),
        health=[HealthResult("web", "https://app/api/health/ready", False, 503, 9, "HTTP 503")],
        rollback="every moved service is back on its previous task definition",
        record_uri="s3://releases/shipline/production/20261126T071500Z-1a2b3c.json",
        record_link="https://s3.console.aws.amazon.com/s3/object/releases?prefix=x",
        final_task_definitions={"api": ARN.format("agent-saas-api:4"), "web": ARN.format("w:1")},
    )


def test_outputs_name_the_release_its_status_and_every_services_task_definition():
    assert deploy_outputs(result()) == {
        "release_id": "20261126T071500Z-1a2b3c",
        "status": "rolled_back",
        "api_task_definition": ARN.format("agent-saas-api:4"),
        "web_task_definition": ARN.format("w:1"),
    }


def test_summary_has_the_services_table_migration_health_rollback_and_record_link():
    text = deploy_summary(result(), "production")
    assert text.startswith("## shipline deploy to `production`: FAILED and rolled back")
    assert "| service | before | after | image | result |" in text
    assert (
        "| api | agent-saas-api:4 | agent-saas-api:5 | `ghcr.io/acme/api:v5` | "
        "` rollout succeeded: COMPLETED, 2/2 running; rolled back ` |"
    ) in text
    assert "**Migration:** exit code 0" in text
    assert "| web | https://app/api/health/ready | FAILED | 503 | 9 |" in text
    assert "**Rollback:** ` every moved service is back" in text
    assert (
        "[s3://releases/shipline/production/20261126T071500Z-1a2b3c.json]"
        "(https://s3.console.aws.amazon.com/s3/object/releases?prefix=x)"
    ) in text


def test_summary_masks_secret_looking_values_in_the_error():
    failed = result()
    failed.error = "UpdateService failed: token ghp_" + "a" * 30
    assert "ghp_" not in deploy_summary(failed, "production")


def test_foreign_text_in_the_summary_renders_as_text_only():
    """Log lines, the stop reason, the error and a service's result come from outside: GitHub's
    parser (cmark-gfm) must render no heading or link from them (issue 12, finding 3)."""
    import re

    import cmarkgfm
    from cmarkgfm.cmark import Options

    crafted = "x\n```\n# PWNED heading\n[PWNED link](https://evil.example/x)"
    failed = result()
    failed.error = f"migration failed: {crafted}"
    failed.services["api"].result = f"update failed: {crafted} | https://evil.example/cell"
    failed.rollback = f"FAILED: {crafted}"
    failed.migration = MigrationResult(
        "arn:task", ARN.format("agent-saas-api:5"), 1, crafted, ("step 1", crafted, "`````")
    )
    html = cmarkgfm.github_flavored_markdown_to_html(
        deploy_summary(failed, "production"), options=Options.CMARK_OPT_UNSAFE
    )
    rendered = re.findall(r"<(h[1-6]|a)\b[^>]*>(.*?)</\1>", html, flags=re.S)
    assert [text for _tag, text in rendered if "PWNED" in text or "evil" in text] == [], html
    assert not re.search(r"<a [^>]*evil", html), html
    assert html.count("PWNED heading") == 5, "each foreign text is still shown, as text"
