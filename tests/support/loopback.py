"""HTTP servers on loopback for tests: hostile registries, proxies, receivers, endpoints."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@contextmanager
def http_server(
    handler: type[BaseHTTPRequestHandler], address: str = "127.0.0.1", poll: float = 0.5
) -> Iterator[ThreadingHTTPServer]:
    """A threaded HTTP server on a free port of `address`, serving `handler` for the block;
    `poll`: how often it looks for shutdown (a short one ends the block sooner)."""
    server = ThreadingHTTPServer((address, 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(poll,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
