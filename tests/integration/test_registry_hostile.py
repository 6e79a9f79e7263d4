"""Registries that lure and lie: credentials stay with their registry, digests are checked.

Hostile registries and token services are small HTTP servers on loopback addresses (127.0.0.2
is another host as far as any URL is concerned, and still this machine); the honest ones are
Debian's docker-registry (registry_fixtures). Every test records which requests carried an
Authorization header. No test reaches past loopback: a guard refuses and records any attempt to
connect elsewhere, so "refused before connecting" is something a test can see.
"""

from __future__ import annotations

import errno
import hashlib
import ipaddress
import json
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler

import pytest
import requests

from shipline.cli import main
from support.actions.runner import parse_command_file
from support.deploy_support import one_error_line
from support.loopback import http_server
from support.registry_fixtures import TokenServer, htpasswd_file, push_image, start_registry

USER, PASSWORD = "ci-bot", "correct-horse-battery"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"

Reply = tuple[int, dict[str, str], bytes]


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    authorization: str | None


@dataclass
class FakeServer:
    host: str  # address:port, as an image reference names it
    url: str
    seen: list[Seen]


@contextmanager
def serving(
    answer: Callable[[str, str], Reply], address: str = "127.0.0.1"
) -> Iterator[FakeServer]:
    """An HTTP server on `address` answering `answer(method, path)`, recording every request."""
    seen: list[Seen] = []

    class Handler(BaseHTTPRequestHandler):
        def _reply(self) -> None:
            seen.append(Seen(self.command, self.path, self.headers.get("Authorization")))
            status, headers, body = answer(self.command, self.path)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_HEAD = _reply

        def log_message(self, *args: object) -> None:
            pass

    with http_server(Handler, address) as server:
        port = server.server_address[1]
        yield FakeServer(f"{address}:{port}", f"http://{address}:{port}", seen)


@pytest.fixture(autouse=True)
def outside_connections(monkeypatch) -> list:
    """Every attempt to connect past loopback, refused (never sent) and recorded."""
    attempts: list = []
    connect = socket.socket.connect

    def guarded(sock: socket.socket, address: object) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            host = str(address[0]).split("%", 1)[0]  # type: ignore[index]
            if not ipaddress.ip_address(host).is_loopback:
                attempts.append(address)
                raise OSError(errno.ENETUNREACH, "the tests connect to loopback only")
        connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    return attempts


def credentials_for(monkeypatch, host: str) -> None:
    monkeypatch.setenv("SHIPLINE_REGISTRY", host)
    monkeypatch.setenv("SHIPLINE_REGISTRY_USERNAME", USER)
    monkeypatch.setenv("SHIPLINE_REGISTRY_PASSWORD", PASSWORD)


def resolve(capsys, *refs: str) -> tuple[int, str, str]:
    code = main(["images", "resolve", "--json", *refs])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def refusal_only(out: str, err: str) -> None:
    """stdout holds the error document alone (--json): no image, no digest."""
    reason = one_error_line(err).removeprefix("shipline: error: ")
    assert json.loads(out) == {"status": "refused", "exit_code": 2, "error": reason}


def challenge(header: str) -> Callable[[str, str], Reply]:
    """A registry that answers every request 401 with this WWW-Authenticate header."""
    return lambda method, path: (401, {"WWW-Authenticate": header}, b"")


def token_service(method: str, path: str) -> Reply:
    return 200, {"Content-Type": "application/json"}, json.dumps({"token": "t0ken"}).encode()


# --- Credentials: only to their own registry, never in clear past this machine -------------


def test_a_realm_with_a_user_part_is_refused_before_connecting(
    capsys, monkeypatch, outside_connections
):
    # urllib reads this as host 192.0.2.2 (user "localhost", password "x"); splitting the
    # host on its last colon read it as "localhost" and sent the credentials there in clear.
    realm = 'Bearer realm="http://localhost:x@192.0.2.2/token",service="registry"'
    with serving(challenge(realm)) as registry:
        credentials_for(monkeypatch, registry.host)
        code, out, err = resolve(capsys, f"api={registry.host}/acme/api:v1")
    assert code == 2
    assert outside_connections == []
    line = one_error_line(err)
    assert "token service" in line and "user name or password" in line
    assert PASSWORD not in err
    refusal_only(out, err)


def test_a_realm_with_a_user_part_on_loopback_gets_no_request(capsys, monkeypatch):
    with serving(token_service, address="127.0.0.2") as realm:
        header = f'Bearer realm="http://127.0.0.1:1@{realm.host}/token",service="registry"'
        with serving(challenge(header)) as registry:
            credentials_for(monkeypatch, registry.host)
            code, _, err = resolve(capsys, f"api={registry.host}/acme/api:v1")
    assert code == 2
    assert realm.seen == []
    assert "user name or password" in one_error_line(err)


def test_a_plain_http_realm_past_this_machine_is_refused_before_connecting(
    capsys, monkeypatch, outside_connections
):
    with serving(challenge('Bearer realm="http://192.0.2.2/token"')) as registry:
        credentials_for(monkeypatch, registry.host)
        code, _, err = resolve(capsys, f"api={registry.host}/acme/api:v1")
    assert code == 2
    assert outside_connections == []
    assert "not HTTPS" in one_error_line(err)


def test_a_realm_on_another_host_never_gets_the_credentials(capsys, monkeypatch):
    # The registry's own host is 127.0.0.1; its challenge sends clients to 127.0.0.2.
    with serving(token_service, address="127.0.0.2") as realm:
        header = f'Bearer realm="{realm.url}/token",service="registry"'
        with serving(challenge(header)) as registry:
            credentials_for(monkeypatch, registry.host)
            code, _, err = resolve(capsys, f"api={registry.host}/acme/api:v1")
    assert code == 2
    assert [(seen.path.split("?")[0], seen.authorization) for seen in realm.seen] == [
        ("/token", None)
    ]
    line = one_error_line(err)
    assert "127.0.0.2" in line and "not sent" in line
    assert PASSWORD not in err


def test_credentials_are_offered_only_to_the_registry_they_are_for(capsys, monkeypatch, tmp_path):
    path = htpasswd_file(tmp_path / "htpasswd", USER, PASSWORD)
    auth = {"htpasswd": {"realm": "shipline-test", "path": str(path)}}
    with start_registry(tmp_path / "private", auth) as private:
        session = requests.Session()
        session.auth = (USER, PASSWORD)
        pushed = push_image(session, private.url, "acme/api", "v3", "private")
        with serving(challenge('Basic realm="other"')) as other:
            credentials_for(monkeypatch, private.host)
            code, _, err = resolve(capsys, f"api={private.host}/acme/api:v3")
            assert code == 0, err
            assert pushed.digest in err

            code, _, err = resolve(
                capsys, f"api={private.host}/acme/api:v3", f"web={other.host}/acme/web:v3"
            )
    assert code == 2
    assert other.seen and all(seen.authorization is None for seen in other.seen)
    line = one_error_line(err)
    assert f"registry {other.host} needs credentials" in line
    assert f"the credentials given are for {private.host}" in line
    assert PASSWORD not in err


def test_a_token_service_gets_credentials_only_for_the_registry_they_are_for(
    capsys, monkeypatch, tmp_path
):
    tokens = TokenServer(USER, PASSWORD, tmp_path / "token-cert.pem")
    with tokens.serving(), start_registry(tmp_path / "tokens", tokens.registry_auth()) as registry:
        session = requests.Session()
        session.headers["Authorization"] = "Bearer " + tokens.token("repository:acme/api:pull,push")
        pushed = push_image(session, registry.url, "acme/api", "v1", "token")

        # The token service lives on the registry's own host name (another port): it is told.
        credentials_for(monkeypatch, registry.host)
        tokens.requests_seen.clear()
        code, _, err = resolve(capsys, f"api={registry.host}/acme/api:v1")
        assert code == 0, err
        assert pushed.digest in err
        assert [seen["authorized"] for seen in tokens.requests_seen] == [True]

        # Credentials for another registry are not offered to this one's token service.
        credentials_for(monkeypatch, "registry.example.com")
        tokens.requests_seen.clear()
        code, _, err = resolve(capsys, f"api={registry.host}/acme/api:v1")
    assert code == 2
    assert [seen["authorized"] for seen in tokens.requests_seen] == [False]
    assert "are for registry.example.com" in one_error_line(err)


# --- Digests: only sha256:<64 hex>, and a fetched manifest must hash to it ------------------

MANIFEST = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "layers": []}).encode()
MANIFEST_DIGEST = "sha256:" + hashlib.sha256(MANIFEST).hexdigest()


def manifest_server(head_digest: str | None, get_digest: str | None, body: bytes = MANIFEST):
    def answer(method: str, path: str) -> Reply:
        digest = head_digest if method == "HEAD" else get_digest
        headers = {"Content-Type": OCI_MANIFEST}
        if digest is not None:
            headers["Docker-Content-Digest"] = digest
        return 200, headers, body

    return answer


@pytest.mark.parametrize(
    "digest",
    [
        "sha256:abc",
        "latest::add-mask::x",
        "sha256:" + "A" * 64,
        "sha512:" + "a" * 128,
        f"{MANIFEST_DIGEST}::stop-commands::x",
    ],
)
def test_a_malformed_digest_is_refused_and_nothing_is_pinned(capsys, monkeypatch, tmp_path, digest):
    outputs = tmp_path / "github_output"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_OUTPUT", str(outputs))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "summary.md"))
    with serving(manifest_server(digest, digest)) as registry:
        code, out, err = resolve(capsys, f"api={registry.host}/acme/api:v1")
    assert code == 2
    refusal_only(out, err)
    # The only step output is shipline's own exit code: no image reference is published.
    published = parse_command_file(outputs.read_text()) if outputs.exists() else {}
    assert published == {"exit-code": "2"}
    assert not (tmp_path / "summary.md").exists()
    assert "not a sha256 digest" in one_error_line(err)
    assert "::add-mask::" not in err and "::stop-commands::" not in err


def test_a_manifest_that_does_not_hash_to_its_digest_is_refused(capsys):
    other = "sha256:" + "0" * 64
    with serving(manifest_server(None, other)) as registry:
        code, out, err = resolve(capsys, f"api={registry.host}/acme/api:v1")
    assert code == 2
    refusal_only(out, err)
    assert "does not match" in one_error_line(err)


def test_a_manifest_without_a_digest_header_is_pinned_to_its_own_hash(capsys):
    with serving(manifest_server(None, None)) as registry:
        code, out, err = resolve(capsys, f"api={registry.host}/acme/api:v1")
    assert code == 0, err
    assert json.loads(out)["images"]["api"]["digest"] == MANIFEST_DIGEST


def test_an_oversized_manifest_is_refused(capsys):
    body = b" " * (4 * 1024 * 1024 + 1)
    with serving(manifest_server(None, None, body)) as registry:
        code, out, err = resolve(capsys, f"api={registry.host}/acme/api:v1")
    assert code == 2
    refusal_only(out, err)
    assert "larger than" in one_error_line(err)
