"""The ping's payload (pure) and the `notify` section of shipline.yml.

Slack's rule for text from elsewhere: `&`, `<` and `>` are escaped as `&amp;`, `&lt;`, `&gt;`
and nothing else (https://api.slack.com/reference/surfaces/formatting#escaping); links
(`<url|label>`), mentions (`<@U123>`) and broadcasts (`<!channel>`) all need a `<`.
"""

from __future__ import annotations

import json

import pytest

from shipline import schemas
from shipline.config import load_config
from shipline.errors import ConfigError
from shipline.release.notify_payload import payload, slack_escape, text
from shipline.release.records import FINAL_STATUSES, ReleaseRecord, ServiceRecord

TASK = "arn:aws:ecs:us-east-1:123456789012:task-definition/agent-saas-api"
URL = "https://hooks.example.com/services/T0/B0/tok3nInThePath"
HOSTILE = 'boom <!channel> <https://evil.example|click here> <@U0ADMIN> & "quotes"\n::error::x'


def ended(status, error=None, **fields) -> ReleaseRecord:
    record = ReleaseRecord(
        release_id="20261201T120000Z-00ab01",
        environment="production",
        actor="octo<@U0ADMIN>cat",
        git_sha="0123456789abcdef0123456789abcdef01234567",
        run_url="https://github.com/acme/app/actions/runs/1",
        **fields,
    )
    record.services["api"] = ServiceRecord(
        service="agent-saas-production-api",
        task_definition=f"{TASK}:8",
        previous_task_definition=f"{TASK}:7",
        desired_count=2,
        previous_desired_count=2,
    )
    record.finish(status, error)
    return record


@pytest.mark.parametrize("status", sorted(FINAL_STATUSES))
def test_the_payload_of_every_ending_fits_its_schema(status):
    record = ended(status, None if status == "succeeded" else HOSTILE)
    document = payload(record, "s3://releases/shipline/production/x.json")
    assert schemas.problems("webhook-payload", document) == []
    release = document["release"]
    assert release["status"] == status and release["kind"] == "deploy"
    assert release["services"]["api"]["before"].endswith(":7")
    assert release["services"]["api"]["after"].endswith(":8")


def test_foreign_text_reaches_the_receiver_unchanged_in_the_json_and_inert_in_the_text():
    document = payload(ended("failed", HOSTILE), None)
    # The structured field keeps the error as it is: JSON escapes it, nothing is lost.
    sent = json.dumps(document, ensure_ascii=True)
    assert json.loads(sent)["release"]["error"] == HOSTILE
    message = document["text"]
    # No `<` survives into the Slack text: no link, mention or broadcast can be made.
    assert "<" not in message and ">" not in message
    assert "&lt;!channel&gt;" in message
    assert "&lt;https://evil.example|click here&gt;" in message
    assert "octo&lt;@U0ADMIN&gt;cat" in message
    assert "&amp; " in message
    # One line for the error, however many it had.
    [error_line] = [line for line in message.splitlines() if line.startswith("error: ")]
    assert error_line.endswith("::error::x")
    assert "record: NOT WRITTEN" in message


def test_the_text_names_the_release_its_services_and_where_the_record_is():
    record = ended("rolled_back", "web unhealthy; rolled back")
    message = text(record, "s3://releases/shipline/production/x.json")
    first, *rest = message.splitlines()
    assert first == (
        ":leftwards_arrow_with_hook: deploy 20261201T120000Z-00ab01 of production failed and "
        "was rolled back"
    )
    assert "- api: agent-saas-api:7 -&gt; agent-saas-api:8" in rest
    assert "record: s3://releases/shipline/production/x.json" in rest


def test_slack_escaping_escapes_the_ampersand_first():
    assert slack_escape("&lt; <b>") == "&amp;lt; &lt;b&gt;"


def write(tmp_path, webhook: object, **notify: object) -> str:
    path = tmp_path / "shipline.yml"
    document = {
        "version": 1,
        "environments": {
            "production": {
                "cluster": "c",
                "history": "s3://releases/p",
                "services": {"api": {}},
                "migrate": "none",
                "notify": {"webhook": webhook, **notify},
            }
        },
    }
    path.write_text(json.dumps(document))
    return str(path)


def test_the_webhook_comes_from_a_variable_and_no_repr_shows_it(tmp_path):
    config = load_config(write(tmp_path, "${HOOK}"), env={"HOOK": URL})
    environment = config.environment("production")
    assert environment.notify is not None
    assert environment.notify.webhook == URL and environment.notify.timeout == 3
    assert URL not in repr(environment) and "tok3n" not in repr(config)


def test_an_empty_variable_means_no_ping(tmp_path):
    config = load_config(write(tmp_path, "${HOOK:-}", timeout=0.5), env={})
    notify = config.environment("production").notify
    assert notify is not None and (notify.webhook, notify.timeout) == ("", 0.5)


def test_a_url_written_in_the_file_is_refused_without_quoting_it(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, URL), env={})
    assert caught.value.problems == [
        "environments.production.notify.webhook: expected one ${VAR} reference such as "
        "${SHIPLINE_WEBHOOK_URL} (the URL holds a token: keep it in a secret, not in the file)"
    ]


@pytest.mark.parametrize(
    "value", ["hooks.example.com/services/tok3n", "ftp://tok3n@host/x", "https://user:tok3n@h/"]
)
def test_a_variable_that_is_no_url_is_refused_without_quoting_it(tmp_path, value):
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, "${HOOK}"), env={"HOOK": value})
    assert caught.value.problems == [
        "environments.production.notify.webhook: expected a URL (http:// or https://) or "
        "nothing, got a value not shown (it is secret)"
    ]
