"""What the ping of an ending release says: its JSON payload, built from the record alone.

The shape is `schemas/webhook-payload.schema.json`: a Slack-compatible `text` (Slack incoming
webhooks show it as the message; other receivers read `release`) and the structured release.
Every value comes from the record, which never holds a secret; the webhook URL is not in it.
Pure: nothing here sends or prints.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shipline.release.records import ReleaseRecord

PAYLOAD_SCHEMA = "webhook-payload"
PAYLOAD_VERSION = 1
# How much of the error the `text` quotes (the whole error is in `release.error`).
TEXT_ERROR_LIMIT = 500
# How the `text` opens for each final status.
HEADLINES = {
    "succeeded": ":white_check_mark: {what} succeeded",
    "failed": ":x: {what} FAILED",
    "rolled_back": ":leftwards_arrow_with_hook: {what} failed and was rolled back",
    "rollback_failed": ":rotating_light: {what} failed and its ROLLBACK FAILED: a person must act",
    "interrupted": ":octagonal_sign: {what} was interrupted",
}


def payload(record: ReleaseRecord, record_uri: str | None) -> dict[str, Any]:
    """The payload of `record` (ended); `record_uri` is None when the record could not be
    written."""
    release = {
        "environment": record.environment,
        "release_id": record.release_id,
        "kind": record.kind,
        "status": record.status,
        "error": record.error,
        "actor": record.actor,
        "git_sha": record.git_sha,
        "run_url": record.run_url,
        "started_at": record.started_at,
        "finished_at": record.finished_at,
        "services": {
            key: {
                "service": entry.service,
                "before": entry.previous_task_definition,
                "after": entry.task_definition,
                "desired_count_before": entry.previous_desired_count,
                "desired_count_after": entry.desired_count,
            }
            for key, entry in record.services.items()
        },
        "rolled_back_to": record.rolled_back_to,
        "record": record_uri,
    }
    return {"text": text(record, record_uri), "version": PAYLOAD_VERSION, "release": release}


def text(record: ReleaseRecord, record_uri: str | None) -> str:
    """The message: what ended how, each service before -> after, who, which commit, the run,
    why it failed. Every value is escaped: none can become a link, a mention or a broadcast."""
    from shipline.aws import short_name

    what = f"{record.kind} {record.release_id} of {record.environment}"
    headline = HEADLINES.get(record.status, "{what} ended " + record.status)
    lines = [slack_escape(headline.format(what=what))]
    for key, entry in record.services.items():
        before = short_name(entry.previous_task_definition)
        after = short_name(entry.task_definition)
        move = f"{before} -> {after}" if before != after else after
        if entry.desired_count != entry.previous_desired_count and entry.desired_count is not None:
            move += f" ({entry.previous_desired_count} -> {entry.desired_count} tasks)"
        lines.append(slack_escape(f"- {key}: {move}"))
    if record.rolled_back_to:
        lines.append(slack_escape(f"back to release {record.rolled_back_to}"))
    who = [part for part in (record.actor and f"by {record.actor}", _commit(record)) if part]
    if who:
        lines.append(slack_escape(", ".join(who)))
    if record.error:
        error = " ".join(record.error.split())
        if len(error) > TEXT_ERROR_LIMIT:
            error = error[: TEXT_ERROR_LIMIT - 3] + "..."
        lines.append(slack_escape(f"error: {error}"))
    if record.run_url:
        lines.append(slack_escape(f"run: {record.run_url}"))
    lines.append(slack_escape(f"record: {record_uri}" if record_uri else "record: NOT WRITTEN"))
    return "\n".join(lines)


def _commit(record: ReleaseRecord) -> str | None:
    sha = record.commit.sha if record.commit else record.git_sha
    return f"commit {sha[:12]}" if sha else None


def slack_escape(value: str) -> str:
    """`value` as Slack shows it literally: `&`, `<` and `>` become `&amp;`, `&lt;` and `&gt;`
    (https://api.slack.com/reference/surfaces/formatting#escaping). Links, mentions and
    `<!channel>` all need a `<`, so no foreign text can make one; `&` first, or the other two
    would be escaped twice."""
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
