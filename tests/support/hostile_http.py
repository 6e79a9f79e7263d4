"""Hostile HTTP servers on loopback: raw sockets in threads, each connection played by a script.

A script gets the accepted socket and a `Connection` to fill in: how many bytes it managed to
send, whether it sent its whole answer, whether the client hung up first. Scripts stop by
themselves (bounded sends and holds), and the server stops when its `with` block ends.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class Connection:
    sent: int = 0  # bytes the client accepted (into its socket buffers or its memory)
    completed: bool = False  # the whole scripted answer went out
    client_left: bool = False  # the client closed or reset the connection first
    request: bytes = b""  # the request line and headers as received


@dataclass
class Server:
    url: str
    connections: list[Connection] = field(default_factory=list)
    connected: threading.Event = field(default_factory=threading.Event)
    stopping: threading.Event = field(default_factory=threading.Event)

    def most_sent(self) -> int:
        """The most bytes one connection got out."""
        return max((c.sent for c in self.connections), default=0)


Script = Callable[[socket.socket, Connection, Server], None]


@contextmanager
def hostile_server(
    script: Script, path: str = "/health/ready", *, raw: bool = False
) -> Iterator[Server]:
    """`raw`: the script starts at once, without reading an HTTP request (a TLS client speaks
    first with a handshake, which never ends in a blank line)."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.05)
    server = Server(f"http://127.0.0.1:{listener.getsockname()[1]}{path}")

    def serve(conn: socket.socket) -> None:
        record = Connection()
        server.connections.append(record)
        with conn:
            conn.settimeout(5)
            try:
                record.request = b"" if raw else read_request(conn)
                server.connected.set()
                script(conn, record, server)
            except OSError:  # reset, broken pipe, or the client's own timeout
                record.client_left = True

    def accept() -> None:
        while not server.stopping.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    try:
        yield server
    finally:
        server.stopping.set()
        acceptor.join(5)
        listener.close()


def read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            raise ConnectionResetError("the client left before its request ended")
        data += chunk
    return data


def send(conn: socket.socket, record: Connection, data: bytes) -> None:
    conn.sendall(data)
    record.sent += len(data)


def client_gone(conn: socket.socket) -> bool:
    """Whether the client closed its end (a read of nothing, or a reset)."""
    conn.setblocking(False)
    try:
        return conn.recv(1) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True
    finally:
        conn.setblocking(True)


def trickle(answer: bytes, every: float) -> Script:
    """Send `answer` one byte each `every` seconds."""

    def script(conn: socket.socket, record: Connection, server: Server) -> None:
        for index in range(len(answer)):
            if index:
                time.sleep(every)
            if server.stopping.is_set():
                return
            if client_gone(conn):
                record.client_left = True
                return
            send(conn, record, answer[index : index + 1])
        record.completed = True

    return script


def huge_body(declared: int, sent_at_most: int, chunk: int = 64 * 1024) -> Script:
    """A 200 declaring `declared` bytes, of which up to `sent_at_most` are streamed."""

    def script(conn: socket.socket, record: Connection, server: Server) -> None:
        head = f"HTTP/1.1 200 OK\r\nContent-Length: {declared}\r\n\r\n".encode()
        send(conn, record, head)
        block = b"0" * chunk
        while record.sent < sent_at_most:
            if server.stopping.is_set():
                return
            send(conn, record, block)
        record.completed = True

    return script


def answer(status: int, body: bytes, content_type: str = "application/json") -> Script:
    def script(conn: socket.socket, record: Connection, server: Server) -> None:
        head = (
            f"HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        send(conn, record, head.encode() + body)
        record.completed = True

    return script


def silent(hold: float) -> Script:
    """Read the request, then say nothing for `hold` seconds (or until the client leaves)."""

    def script(conn: socket.socket, record: Connection, server: Server) -> None:
        ends = time.monotonic() + hold
        while time.monotonic() < ends:
            time.sleep(0.02)
            if server.stopping.is_set():
                return
            if client_gone(conn):
                record.client_left = True
                return
        record.completed = True

    return script
