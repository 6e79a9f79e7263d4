"""The HTML report of `shipline insights --html` in a real browser (Debian's headless Chromium):
a screenshot, the page's DOM after it loaded, and every request the page made.

Chromium itself phones home (component updates, account checks) even with its background
networking switched off, so every request it makes goes to a recording proxy on loopback
(nothing leaves the machine), and the page's own requests are told apart in Chromium's net log:
a request a page starts carries the page's origin as its initiator (`null` for a file), the
browser's own carry none ("not an origin"). A control page with one image from loopback proves
the check sees a request when there is one.
"""

from __future__ import annotations

import http.server
import json
import shutil
import struct
import subprocess
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest

from shipline.insights import figures as insights
from shipline.insights.html_report import render_html
from shipline.release.records import (
    CommitRecord,
    PhaseRecord,
    ReleaseRecord,
    ServiceRecord,
    new_release_id,
    utc_timestamp,
)
from support.loopback import http_server

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (tests/system-packages.sh)"
)

SINCE = datetime(2026, 11, 2, tzinfo=UTC)
UNTIL = SINCE + timedelta(days=21)
TD = "arn:aws:ecs:us-east-1:123456789012:task-definition/api:{}"
WINDOW = (1000, 1400)
# Switches that stop what they can of Chromium's own traffic (the proxy catches the rest).
QUIET = (
    "--headless",
    "--no-sandbox",  # tests may run as root, where Chromium's sandbox refuses to start
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-domain-reliability",
    "--no-pings",
    "--disable-breakpad",
    "--password-store=basic",
)


class Recorder(http.server.BaseHTTPRequestHandler):
    """A proxy that forwards nothing: it notes each request and refuses it."""

    seen: list[str]

    def answer(self) -> None:
        self.seen.append(f"{self.command} {self.path}")
        self.send_response(403)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = do_HEAD = do_CONNECT = answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def proxy():
    seen: list[str] = []
    handler = type("Recording", (Recorder,), {"seen": seen})
    with http_server(handler) as server:
        yield server.server_address[1], seen


def chromium(page: Path, proxy_port: int, workdir: Path, *action: str) -> tuple[str, list[str]]:
    """Open `page` once; stdout, and the URLs of the requests the page itself started."""
    net_log = workdir / f"net-{len(list(workdir.glob('net-*')))}.json"
    ran = subprocess.run(
        [
            str(CHROMIUM),
            *QUIET,
            f"--user-data-dir={workdir / 'profile'}",
            f"--proxy-server=http://127.0.0.1:{proxy_port}",
            "--proxy-bypass-list=<-loopback>",  # loopback too goes through the recorder
            f"--log-net-log={net_log}",
            f"--window-size={WINDOW[0]},{WINDOW[1]}",
            *action,
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr[-2000:]
    log = json.loads(net_log.read_text(encoding="utf-8"))
    names = {number: name for name, number in log["constants"]["logEventTypes"].items()}
    started_by_page = [
        event["params"]["url"]
        for event in log["events"]
        if names.get(event["type"]) == "URL_REQUEST_START_JOB"
        and event.get("params", {}).get("initiator", "not an origin") != "not an origin"
    ]
    return ran.stdout, started_by_page


class Page(HTMLParser):
    """What the DOM holds: the figures, the timeline's marks, and any element that loads."""

    def __init__(self) -> None:
        super().__init__()
        self.figures: dict[str, str] = {}
        self.marks: list[dict[str, str | None]] = []
        self.loading: list[str] = []
        self.slowest = ""
        self._figure: str | None = None
        self._in_value = self._in_slowest = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if "data-figure" in found:
            self._figure = found["data-figure"]
        if found.get("class") == "value" and self._figure:
            self._in_value = True
        if tag == "circle" and found.get("class") == "release":
            self.marks.append(found)
        if tag in {"img", "script", "iframe", "link", "object", "embed", "image"}:
            self.loading.append(tag)
        if found.get("id") == "slowest-phase":
            self._in_slowest = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "div" and self._in_value:
            self._in_value = False
            self._figure = None
        if tag == "p":
            self._in_slowest = False

    def handle_data(self, data: str) -> None:
        if self._in_value and self._figure:
            self.figures[self._figure] = self.figures.get(self._figure, "") + data
        if self._in_slowest:
            self.slowest += data


def release(day: float, status: str, kind: str = "deploy", **extras) -> ReleaseRecord:
    started = SINCE + timedelta(days=day)
    record = ReleaseRecord(
        release_id=new_release_id(started),
        environment="production",
        kind=kind,  # type: ignore[arg-type]
        started_at=utc_timestamp(started),
        services={"api": ServiceRecord("app-api", TD.format(int(day * 10) + 1), None, 2)},
        phases=[
            PhaseRecord("preflight", utc_timestamp(started), 2.0),
            PhaseRecord("roll out", utc_timestamp(started), 90.0 + day),
            PhaseRecord("verify", utc_timestamp(started), 10.0),
        ],
        **extras,
    )
    record.finish(
        status,
        None if status == "succeeded" else extras.get("error"),
        now=started + timedelta(minutes=3),
    )  # type: ignore[arg-type]
    return record


def history(trap: str) -> list[ReleaseRecord]:
    """Three weeks: deploys, failures, a manual rollback; record text that tries to load."""
    hostile = f'<img src="{trap}"><script>fetch("{trap}")</script>'
    made = [
        release(0.5, "succeeded", commit=CommitRecord("a" * 40, utc_timestamp(SINCE))),
        release(2, "succeeded"),
        release(4, "rolled_back", error=f"web unhealthy {hostile}"),
        release(5, "succeeded"),
        release(9, "failed", error=hostile),
        release(10, "interrupted", error="cancelled"),
    ]
    made.append(release(11, "succeeded", kind="rollback", rolled_back_to=made[3].release_id))
    made[0].phases.append(PhaseRecord(f"odd {hostile}", made[0].started_at, 1.0))
    return made


def test_the_report_shows_the_figures_one_mark_per_release_and_loads_nothing(proxy, tmp_path):
    port, seen = proxy
    trap = f"http://127.0.0.1:{port}/leak"
    records = history(trap)
    result = insights.compute("production", records, SINCE, UNTIL)
    report = tmp_path / "report.html"
    report.write_text(render_html(result, UNTIL), encoding="utf-8")

    screenshot = tmp_path / "report.png"
    _, requested = chromium(report, port, tmp_path, f"--screenshot={screenshot}")
    dom, requested_again = chromium(report, port, tmp_path, "--dump-dom")

    # The screenshot is a PNG of the window's size (kept in tmp_path for a person to look at).
    data = screenshot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == WINDOW
    # The four figures, as the page shows them after loading.
    page = Page()
    page.feed(dom)
    # Worked by hand: deployments on days 0.5, 2 and 5 (3 in 21 days); attempts add the
    # failures of days 4 and 9 (2 of 5); restored after 1 day (day 5) and 2 days (the rollback
    # of day 11): median 1.5 days; one deployment has a commit, 12h03m before it ended.
    assert page.figures == {
        "deployment-frequency": "0.14 / day",
        "lead-time": "12h03m",
        "change-failure-rate": "40%",
        "time-to-restore": "1d12h",
    }
    # One mark per release of the window, coloured by its outcome.
    assert [(m["data-release"], m["data-status"]) for m in page.marks] == [
        (record.release_id, record.status) for record in records
    ]
    assert len({m["fill"] for m in page.marks}) == len({r.status for r in records})
    assert "roll out" in page.slowest
    # Record text stayed text: nothing in the page loads, and no request left the file.
    assert page.loading == []
    assert requested == requested_again == []
    assert not any("/leak" in line for line in seen)


def test_the_request_check_sees_a_page_that_does_load_something(proxy, tmp_path):
    port, seen = proxy
    control = tmp_path / "control.html"
    control.write_text(
        f'<!DOCTYPE html><html><body><img src="http://127.0.0.1:{port}/leak"></body></html>',
        encoding="utf-8",
    )
    _, requested = chromium(control, port, tmp_path, "--dump-dom")
    assert requested == [f"http://127.0.0.1:{port}/leak"]
    assert any("/leak" in line for line in seen)
