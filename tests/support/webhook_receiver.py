"""A webhook receiver on loopback (a threaded http.server) that keeps every POST it gets.

`answer` is the status it answers with; `hang=True` accepts each request and never answers
until the test ends (the receiver that must not hold a release). The URL has a token in its
path, as Slack's incoming webhooks do: tests check it never shows up anywhere.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from support.loopback import http_server

TOKEN_PATH = "/services/T0SHIP/B0LINE/s3cr3tT0kenInThePath"


@dataclass
class Receiver:
    url: str
    answer: int = 200
    hang: bool = False
    posts: list[dict[str, Any]] = field(default_factory=list)  # {path, headers, body}
    stopping: threading.Event = field(default_factory=threading.Event)
    # Called as each POST arrives, before the answer: what the world looks like at that moment.
    on_post: Callable[[], Any] | None = None
    seen: list[Any] = field(default_factory=list)  # what on_post returned, per POST

    @property
    def payloads(self) -> list[Any]:
        return [json.loads(post["body"]) for post in self.posts]


@contextmanager
def webhook_receiver(answer: int = 200, *, hang: bool = False) -> Iterator[Receiver]:
    receiver: Receiver

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            receiver.posts.append({"path": self.path, "headers": dict(self.headers), "body": body})
            if receiver.on_post is not None:
                receiver.seen.append(receiver.on_post())
            if receiver.hang:
                receiver.stopping.wait(60)
                return
            self.send_response(receiver.answer)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    with http_server(Handler) as server:
        receiver = Receiver(f"http://127.0.0.1:{server.server_port}{TOKEN_PATH}", answer, hang)
        try:
            yield receiver
        finally:
            receiver.stopping.set()  # a hanging handler lets go before the server stops
