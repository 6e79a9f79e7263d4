"""A real OCI registry for tests: Debian's `docker-registry` (the CNCF distribution registry).

`start_registry` runs it on a free loopback port with its own storage directory and config:
open, with htpasswd basic auth (bcrypt, from apache2-utils' `htpasswd`), or with bearer tokens
from `TokenServer`, a small token endpoint that signs JWTs with a self-signed certificate the
registry trusts (its `auth.token.rootcertbundle`). `push_image` uploads a tiny image over the
registry HTTP API (blob uploads, then a manifest PUT) and returns the digests the registry gave.

A missing binary fails the test with what to install; it never skips.
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import hashlib
import io
import json
import secrets
import shutil
import socket
import subprocess
import tarfile
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
import requests

from support.loopback import http_server

SERVICE = "shipline-test-registry"
ISSUER = "shipline-test-token-issuer"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


def require_binary(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"`{name}` is not installed: apt-get install {package} "
            "(.ci/run installs it; these tests run against a real registry)",
            pytrace=False,
        )
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningRegistry:
    host: str  # 127.0.0.1:PORT, as an image reference names it
    url: str
    process: subprocess.Popen[bytes]
    log: Path


@contextmanager
def start_registry(workdir: Path, auth: dict | None = None) -> Iterator[RunningRegistry]:
    """The distribution registry on a free loopback port, stopped (and waited for) at the end."""
    binary = require_binary("docker-registry", "docker-registry")
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    config = {
        "version": 0.1,
        "log": {"level": "warn", "accesslog": {"disabled": True}},
        "storage": {
            "filesystem": {"rootdirectory": str(workdir / "storage")},
            "delete": {"enabled": True},
        },
        "http": {"addr": f"127.0.0.1:{port}", "secret": secrets.token_hex(16)},
    }
    if auth:
        config["auth"] = auth
    config_path = workdir / "config.yml"
    config_path.write_text(json.dumps(config), encoding="utf-8")  # JSON is YAML
    log = workdir / "registry.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [binary, "serve", str(config_path)], stdout=sink, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15
        while True:
            if process.poll() is not None:
                pytest.fail(f"docker-registry exited at start: {log.read_text()[-2000:]}")
            try:
                # 200 when open, 401 behind auth: either way it serves.
                if requests.get(f"{url}/v2/", timeout=1).status_code in (200, 401):
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"docker-registry did not answer on {url}: {log.read_text()[-2000:]}")
            time.sleep(0.05)
        yield RunningRegistry(f"127.0.0.1:{port}", url, process, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def htpasswd_file(path: Path, username: str, password: str) -> Path:
    """An htpasswd file with one bcrypt entry (the registry accepts only bcrypt)."""
    binary = require_binary("htpasswd", "apache2-utils")
    entry = subprocess.run(
        [binary, "-Bbn", username, password], check=True, capture_output=True, text=True
    ).stdout.strip()
    path.write_text(entry + "\n", encoding="utf-8")
    return path


# Bearer tokens: the flow GHCR, Docker Hub and most hosted registries use.


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class TokenServer:
    """A token endpoint: GET /token?service=&scope= with basic auth answers a signed JWT."""

    username: str
    password: str
    cert_path: Path
    requests_seen: list[dict] = field(default_factory=list)
    url: str = ""

    def __post_init__(self) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.x509.oid import NameOID

        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ISSUER)])
        now = dt.datetime.now(dt.UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self._key, hashes.SHA256())
        )
        self.cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        self._x5c = base64.b64encode(certificate.public_bytes(serialization.Encoding.DER)).decode()

    def registry_auth(self) -> dict:
        """The registry's `auth:` section that trusts this endpoint's tokens."""
        return {
            "token": {
                "realm": f"{self.url}/token",
                "service": SERVICE,
                "issuer": ISSUER,
                "rootcertbundle": str(self.cert_path),
            }
        }

    def token(self, scope: str) -> str:
        """A JWT granting `scope` (`repository:<name>:<actions>`), signed RS256 with x5c."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        access = []
        for item in scope.split():
            kind, name, actions = item.split(":", 2) if item.count(":") >= 2 else (item, "", "")
            access.append({"type": kind, "name": name, "actions": actions.split(",")})
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self._x5c]}
        claims = {
            "iss": ISSUER,
            "sub": self.username,
            "aud": SERVICE,
            "exp": now + 300,
            "nbf": now - 10,
            "iat": now,
            "jti": secrets.token_hex(8),
            "access": access,
        }
        signing_input = (
            _b64url(json.dumps(header).encode()) + "." + _b64url(json.dumps(claims).encode())
        )
        signature = self._key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return signing_input + "." + _b64url(signature)

    @contextmanager
    def serving(self) -> Iterator[TokenServer]:
        with http_server(self._handler()) as server:
            self.url = f"http://127.0.0.1:{server.server_address[1]}"
            yield self

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        issuer = self
        expected = "Basic " + base64.b64encode(f"{self.username}:{self.password}".encode()).decode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parsed = urllib.parse.urlsplit(self.path)
                query = dict(urllib.parse.parse_qsl(parsed.query))
                given = self.headers.get("Authorization")
                issuer.requests_seen.append(
                    {"path": parsed.path, "query": query, "authorized": given == expected}
                )
                if parsed.path != "/token":
                    return self._reply(404, {"errors": [{"code": "NOT_FOUND"}]})
                if given != expected:
                    return self._reply(401, {"errors": [{"code": "UNAUTHORIZED"}]})
                token = issuer.token(query.get("scope", ""))
                return self._reply(200, {"token": token, "expires_in": 300})

            def _reply(self, status: int, body: dict) -> None:
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        return Handler


# Pushing a small image over the registry API.


@dataclass
class PushedImage:
    repository: str
    tag: str
    digest: str  # what the registry answered in Docker-Content-Digest
    media_type: str
    manifest: bytes


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _layer(content: str) -> tuple[bytes, bytes]:
    """A gzipped tar holding one file, and the uncompressed tar (for the config's diff_ids)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as archive:
        data = content.encode()
        info = tarfile.TarInfo("hello.txt")
        info.size = len(data)
        info.mtime = 0
        archive.addfile(info, io.BytesIO(data))
    tar = raw.getvalue()
    return gzip.compress(tar, mtime=0), tar


def _upload_blob(session: requests.Session, url: str, repository: str, blob: bytes) -> str:
    digest = _digest(blob)
    started = session.post(f"{url}/v2/{repository}/blobs/uploads/", timeout=10)
    assert started.status_code == 202, started.text
    location = urllib.parse.urljoin(url, started.headers["Location"])
    separator = "&" if "?" in location else "?"
    finished = session.put(
        f"{location}{separator}digest={digest}",
        data=blob,
        headers={"Content-Type": "application/octet-stream"},
        timeout=10,
    )
    assert finished.status_code == 201, finished.text
    return digest


def _put_manifest(
    session: requests.Session, url: str, repository: str, tag: str, body: bytes, media_type: str
) -> PushedImage:
    answer = session.put(
        f"{url}/v2/{repository}/manifests/{tag}",
        data=body,
        headers={"Content-Type": media_type},
        timeout=10,
    )
    assert answer.status_code == 201, answer.text
    digest = answer.headers["Docker-Content-Digest"]
    assert digest == _digest(body)
    return PushedImage(repository, tag, digest, media_type, body)


def push_image(
    session: requests.Session, url: str, repository: str, tag: str, content: str = "hello"
) -> PushedImage:
    """An OCI image manifest (one layer) pushed as `repository:tag`."""
    layer, tar = _layer(content)
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Cmd": ["cat", "/hello.txt"]},
            "rootfs": {"type": "layers", "diff_ids": [_digest(tar)]},
        }
    ).encode()
    config_digest = _upload_blob(session, url, repository, config)
    layer_digest = _upload_blob(session, url, repository, layer)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(config)},
            "layers": [{"mediaType": OCI_LAYER, "digest": layer_digest, "size": len(layer)}],
        }
    ).encode()
    return _put_manifest(session, url, repository, tag, manifest, OCI_MANIFEST)


def push_index(
    session: requests.Session, url: str, repository: str, tag: str, image: PushedImage
) -> PushedImage:
    """An OCI image index (what an attested or multi-platform build pushes) over `image`."""
    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {
                    "mediaType": image.media_type,
                    "digest": image.digest,
                    "size": len(image.manifest),
                    "platform": {"architecture": "amd64", "os": "linux"},
                }
            ],
        }
    ).encode()
    return _put_manifest(session, url, repository, tag, index, OCI_INDEX)


@dataclass
class PushedIndex:
    index: PushedImage
    platforms: dict[str, PushedImage]  # architecture -> its image manifest
    blobs: dict[str, bytes]  # digest -> content, every distinct blob the index names


def push_platform_index(
    session: requests.Session,
    url: str,
    repository: str,
    tag: str,
    architectures: tuple[str, ...] = ("amd64", "arm64"),
    base: bytes = b"",
) -> PushedIndex:
    """An OCI index over one image per architecture, each with its own config and app layer on
    top of one shared base layer (`base`, or a small gzipped tar): what a multi-platform build
    pushes."""
    base_layer = base or _layer("shared base")[0]
    blobs = {_digest(base_layer): base_layer}
    platforms, entries = {}, []
    for architecture in architectures:
        app_layer, tar = _layer(f"app for {architecture}")
        config = json.dumps(
            {
                "architecture": architecture,
                "os": "linux",
                "rootfs": {"type": "layers", "diff_ids": [_digest(base_layer), _digest(tar)]},
            }
        ).encode()
        layers = []
        for blob, media_type in ((base_layer, OCI_LAYER), (app_layer, OCI_LAYER)):
            layers.append({"mediaType": media_type, "digest": _digest(blob), "size": len(blob)})
        for blob in (config, base_layer, app_layer):
            blobs[_upload_blob(session, url, repository, blob)] = blob
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, "digest": _digest(config), "size": len(config)},
                "layers": layers,
            }
        ).encode()
        image = _put_manifest(session, url, repository, _digest(manifest), manifest, OCI_MANIFEST)
        platforms[architecture] = image
        entries.append(
            {
                "mediaType": OCI_MANIFEST,
                "digest": image.digest,
                "size": len(manifest),
                "platform": {"architecture": architecture, "os": "linux"},
            }
        )
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}).encode()
    pushed = _put_manifest(session, url, repository, tag, index, OCI_INDEX)
    return PushedIndex(pushed, platforms, blobs)


REGISTRY_USER, REGISTRY_PASSWORD = "ci-bot", "correct-horse-battery"


def use_credentials(
    monkeypatch: pytest.MonkeyPatch, registry: str, password: str = REGISTRY_PASSWORD
) -> None:
    """Credentials for `registry` (SHIPLINE_REGISTRY names the registry they belong to)."""
    monkeypatch.setenv("SHIPLINE_REGISTRY", registry)
    monkeypatch.setenv("SHIPLINE_REGISTRY_USERNAME", REGISTRY_USER)
    monkeypatch.setenv("SHIPLINE_REGISTRY_PASSWORD", password)
