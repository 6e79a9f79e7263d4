"""The GitHub step summaries and step outputs of a deploy and a rollback, built from their
results (pure)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shipline.aws import short_name
from shipline.github import markdown_code_block, markdown_inline, markdown_table
from shipline.sensitive import mask_text

if TYPE_CHECKING:
    from shipline.release.deploy import DeployResult, DeployStatus
    from shipline.release.migrate import MigrateRun
    from shipline.release.rollback import RollbackResult

STATUS_WORDS: dict[DeployStatus, str] = {
    "succeeded": "succeeded",
    "failed": "FAILED",
    "rolled_back": "FAILED and rolled back",
    "rollback_failed": "FAILED, and the rollback FAILED too: a person must act",
    "interrupted": "INTERRUPTED",
    "dry_run": "dry run (nothing changed)",
    "refused": "refused (nothing changed)",
}


def deploy_outputs(result: DeployResult) -> dict[str, Any]:
    """release_id, status, and `<key>_task_definition` for every service of the environment."""
    outputs: dict[str, Any] = {"release_id": result.release_id or "", "status": result.status}
    for key, arn in result.final_task_definitions.items():
        outputs[f"{key}_task_definition"] = arn
    return outputs


def deploy_summary(result: DeployResult, environment: str) -> str:
    """Markdown: the outcome, a table of services, the migration, health, rollback, record."""
    title = STATUS_WORDS.get(result.status, result.status)
    lines = [f"## shipline deploy to `{environment}`: {title}", ""]
    if result.release_id:
        lines.append(f"Release `{result.release_id}`, exit code {result.exit_code}.")
    if result.promoted_from:
        source = result.promoted_from
        lines.append(
            f"Promoted from `{source['environment']}` release `{source['release_id']}` "
            "(the same image digests)."
        )
    if result.error:
        lines.append(f"\n**Why:** {markdown_inline(mask_text(result.error))}")
    if result.terraform and result.terraform.get("changes"):
        lines.append(
            f"\n**Terraform changed within this release** ({result.terraform.get('status')}):\n"
        )
        lines += [
            f"- {markdown_inline(mask_text(change['address']))}: {change['action']}"
            for change in result.terraform["changes"]
        ]
    if result.skipped_checks:
        skipped = ", ".join(f"`{check}`" for check in result.skipped_checks)
        lines.append(f"\n**Preflight checks skipped on purpose:** {skipped}")
    lines.append("")
    rows = [
        [
            key,
            short_name(run.previous_task_definition),
            short_name(run.new_task_definition) if run.new_task_definition else "-",
            f"`{mask_text(run.image)}`",
            markdown_inline(run.result),  # may quote AWS errors and health bodies
        ]
        for key, run in result.services.items()
    ]
    running = result.final_task_definitions
    rows += [
        [key, short_name(running[key]) if key in running else "-", "-", "-", f"left alone: {why}"]
        for key, why in result.left_alone.items()
    ]
    if rows:
        lines.append(markdown_table(["service", "before", "after", "image", "result"], rows))
    if result.migration is not None:
        migration = result.migration
        lines.append(
            f"**Migration:** exit code {migration.exit_code}"
            + (f" ({markdown_inline(mask_text(migration.reason))})" if migration.reason else "")
        )
        if migration.log_tail:
            tail = "\n".join(mask_text(line) for line in migration.log_tail)
            lines += ["", "<details><summary>last log lines</summary>", ""]
            lines += [markdown_code_block(tail), "</details>"]
        lines.append("")
    elif result.migration_skipped:
        # shipline's own words around a service key of the config (letters, digits, - and _).
        lines.append(f"**Migration:** skipped: {result.migration_skipped}\n")
    if result.health:
        health_rows = [
            [h.service, h.url, "ok" if h.ok else "FAILED", h.status, h.attempts]
            for h in result.health
        ]
        lines.append("**Health:**\n")
        lines.append(
            markdown_table(["service", "url", "result", "status", "attempts"], health_rows)
        )
    if result.rollback:
        lines.append(f"**Rollback:** {markdown_inline(mask_text(result.rollback))}\n")
    if result.diff:
        lines += ["**Dry run:**", "", markdown_code_block("\n".join(result.diff), "diff")]
    if result.record_uri:
        link = result.record_link or result.record_uri
        lines.append(f"**Record:** [{result.record_uri}]({link})")
    return "\n".join(lines) + "\n"


def rollback_outputs(result: RollbackResult) -> dict[str, Any]:
    """release_id, status, rolled_back_to, record, and `<key>_task_definition` per service."""
    record = result.record
    outputs: dict[str, Any] = {
        "release_id": record.release_id,
        "status": record.status,
        "rolled_back_to": record.rolled_back_to,
        "record": result.record_uri,
    }
    for key, entry in record.services.items():
        outputs[f"{key}_task_definition"] = entry.task_definition
    return outputs


def rollback_summary(result: RollbackResult) -> str:
    """Markdown: what moved where, health, the result, and where the record is."""
    record = result.record
    title = (
        f"Rollback of {record.environment} to {record.rolled_back_to}"
        if record.kind == "rollback"
        else f"Scale-to-zero of {record.environment}"
    )
    rows = []
    for key, entry in sorted(record.services.items()):
        if key in result.moved:
            outcome: str = record.status
        elif key in result.already:
            outcome = "unchanged"
        else:
            outcome = "not moved"
        rows.append(
            [
                key,
                short_name(entry.previous_task_definition),
                short_name(entry.task_definition),
                entry.desired_count,
                outcome,
            ]
        )
    parts = [
        f"## {title}: {record.status}\n",
        markdown_table(["service", "before", "after", "tasks", "result"], rows),
    ]
    if record.health:
        parts.append(
            markdown_table(
                ["health", "url", "ok", "status", "attempts"],
                [
                    [h.service or "", h.url, "yes" if h.ok else "NO", h.status, h.attempts]
                    for h in record.health
                ],
            )
        )
    if record.broke_lock:
        broke = record.broke_lock
        parts.append(
            f"**Broke the lock on purpose** of release `{broke['release_id']}` held by "
            f"{broke['holder']} since {broke['acquired_at']} (expires {broke['expires_at']})\n"
        )
    if record.error:
        parts.append(f"**Error:** {markdown_inline(mask_text(record.error))}\n")
    parts.append(f"Release `{record.release_id}`, record `{result.record_uri}`\n")
    return "\n".join(parts)


def migrate_summary(run: MigrateRun) -> str:
    """Markdown: the migration's result, its task definition and exit code, the record."""
    record, result = run.record, run.result
    title = "succeeded" if record.status == "succeeded" else record.status.upper()
    lines = [f"## shipline migrate `{record.environment}`: {title}", ""]
    if result is not None:
        why = f" ({markdown_inline(mask_text(result.reason))})" if result.reason else ""
        lines.append(
            f"Task definition `{short_name(result.task_definition)}`, exit code "
            f"{result.exit_code}{why}"
        )
    elif record.error:
        lines.append(f"**Why:** {markdown_inline(mask_text(record.error))}")
    lines.append(f"\nRelease `{record.release_id}`, record `{run.record_uri}`")
    return "\n".join(lines) + "\n"
