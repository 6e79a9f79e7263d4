"""A loopback proxy in front of a real registry: it counts what a client sends and can drop a
connection part-way, as a network that fails does.

Every request is forwarded as it came (Host header included, so the registry's upload
Locations name the proxy and the client keeps talking through it) and recorded as a `Forwarded`.
`drop(request, seen_before)` decides, per request, to close the connection without an answer.
With `relative_locations`, absolute Location headers are turned into paths (the distribution
spec allows either; Debian's registry sends absolute ones).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler

import requests

from support.loopback import http_server

HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length"})


@dataclass(frozen=True)
class Forwarded:
    method: str
    path: str  # without the query
    query: dict[str, str]
    headers: dict[str, str]
    body_length: int
    status: int | None  # None: dropped without an answer

    @property
    def is_blob_upload(self) -> bool:
        """A request that ends a blob upload (the PUT with ?digest=)."""
        return self.method == "PUT" and "/blobs/uploads/" in self.path and "digest" in self.query


Drop = Callable[[Forwarded, list[Forwarded]], bool]


@dataclass
class CountingProxy:
    upstream: str  # http://127.0.0.1:PORT of the registry
    drop: Drop | None = None
    relative_locations: bool = False
    seen: list[Forwarded] = field(default_factory=list)
    host: str = ""  # 127.0.0.1:PORT of the proxy, as an image reference names it
    url: str = ""

    def requests_for(self, method: str, fragment: str = "") -> list[Forwarded]:
        return [r for r in self.seen if r.method == method and fragment in r.path]

    def uploaded_digests(self) -> list[str]:
        """The digests of the blob uploads that completed, in order, repeats kept."""
        return [r.query["digest"] for r in self.seen if r.is_blob_upload and r.status == 201]

    @contextmanager
    def serving(self) -> Iterator[CountingProxy]:
        with http_server(self._handler()) as server:
            self.host = f"127.0.0.1:{server.server_address[1]}"
            self.url = f"http://{self.host}"
            yield self

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self
        session = requests.Session()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self) -> None:
                parts = urllib.parse.urlsplit(self.path)
                query = dict(urllib.parse.parse_qsl(parts.query))
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                planned = Forwarded(self.command, parts.path, query, headers, len(body), None)
                if proxy.drop is not None and proxy.drop(planned, list(proxy.seen)):
                    proxy.seen.append(planned)
                    self.close_connection = True
                    return
                answer = session.request(
                    self.command,
                    proxy.upstream + self.path,
                    headers=headers,
                    data=body or None,
                    allow_redirects=False,
                    timeout=30,
                )
                proxy.seen.append(
                    Forwarded(
                        self.command, parts.path, query, headers, len(body), answer.status_code
                    )
                )
                self.send_response(answer.status_code)
                for name, value in answer.headers.items():
                    if name.lower() in HOP_BY_HOP:
                        continue
                    if name.lower() == "location" and proxy.relative_locations:
                        moved = urllib.parse.urlsplit(value)
                        value = urllib.parse.urlunsplit(("", "", moved.path, moved.query, ""))
                    self.send_header(name, value)
                content = b"" if self.command == "HEAD" else answer.content
                declared = answer.headers.get("Content-Length") if self.command == "HEAD" else None
                self.send_header("Content-Length", declared or str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _forward

            def log_message(self, *args: object) -> None:
                pass

        return Handler
