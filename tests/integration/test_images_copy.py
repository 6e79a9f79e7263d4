"""`shipline images copy` between two real registries (Debian's docker-registry): one open, one
behind htpasswd basic auth, and one behind bearer tokens; a counting proxy on loopback in front
of the destination sees every request the copy sends, and can drop a connection part-way.

The rules are the OCI distribution spec's (opencontainers/distribution-spec, spec.md): HEAD
before sending, blobs before manifests, children before the index, mount within one registry,
chunked uploads with Content-Range, and the exact manifest bytes, so the digest stays the same.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import os
import urllib.parse
from collections.abc import Callable
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler

import pytest
import requests

from shipline.cli import main
from shipline.images import copy as copy_module
from shipline.images.copy import copy_image
from shipline.images.oci import RegistryCredentials
from support.deploy_support import one_error_line
from support.loopback import http_server
from support.registry_fixtures import (
    OCI_INDEX,
    REGISTRY_PASSWORD,
    REGISTRY_USER,
    TokenServer,
    htpasswd_file,
    push_image,
    push_platform_index,
    start_registry,
    use_credentials,
)
from support.registry_proxy import CountingProxy, Forwarded

ACCEPT = {"Accept": f"{OCI_INDEX}, application/vnd.oci.image.manifest.v1+json"}
_names = itertools.count()


def fresh(name: str) -> str:
    """A repository path no other test writes to."""
    return f"prod/{name}-{next(_names)}"


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """The open registry, holding a two-platform index `acme/shop/api:v1`."""
    with start_registry(tmp_path_factory.mktemp("source-registry")) as registry:
        pushed = push_platform_index(requests.Session(), registry.url, "acme/shop/api", "v1")
        yield registry, pushed


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    """The registry behind basic auth the copies go to."""
    workdir = tmp_path_factory.mktemp("target-registry")
    path = htpasswd_file(workdir / "htpasswd", REGISTRY_USER, REGISTRY_PASSWORD)
    with start_registry(workdir, {"htpasswd": {"realm": "shipline-test", "path": str(path)}}) as r:
        yield r


@pytest.fixture
def proxy(target):
    """A counting proxy in front of the target; tests name the target by the proxy's host."""
    with CountingProxy(target.url).serving() as counting:
        yield counting


def authed() -> requests.Session:
    session = requests.Session()
    session.auth = (REGISTRY_USER, REGISTRY_PASSWORD)
    return session


def copy(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["images", "copy", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def manifest_at(url: str, repository: str, reference: str) -> requests.Response:
    answer = authed().get(f"{url}/v2/{repository}/manifests/{reference}", headers=ACCEPT)
    assert answer.status_code == 200, (repository, reference, answer.status_code)
    return answer


def blob_present(url: str, repository: str, digest: str) -> bool:
    return authed().head(f"{url}/v2/{repository}/blobs/{digest}").status_code == 200


def starts_of_uploads(proxy: CountingProxy) -> list[Forwarded]:
    return proxy.requests_for("POST", "/blobs/uploads/")


# --- An index with two platforms ------------------------------------------------------------


def test_an_index_of_two_platforms_is_copied_with_every_blob_and_keeps_its_digest(
    capsys, monkeypatch, source, target, proxy
):
    registry, pushed = source
    use_credentials(monkeypatch, proxy.host)
    destination = f"{proxy.host}/{fresh('api')}"
    code, out, err = copy(
        capsys, "--json", f"{registry.host}/acme/shop/api:v1", f"{destination}:1.4.0"
    )
    assert code == 0, err
    document = json.loads(out)
    digest = pushed.index.digest
    assert document["image"] == f"{destination}@{digest}"
    repository = destination.split("/", 1)[1]
    # The index and both children, byte for byte, under the same digests; the tag too.
    for image in (pushed.index, *pushed.platforms.values()):
        answer = manifest_at(target.url, repository, image.digest)
        assert answer.content == image.manifest
        assert answer.headers["Content-Type"] == image.media_type
        assert answer.headers["Docker-Content-Digest"] == image.digest
    assert manifest_at(target.url, repository, "1.4.0").headers["Docker-Content-Digest"] == digest
    # Every blob arrived, and each went up exactly once: the base layer both platforms share
    # was found present the second time.
    assert all(blob_present(target.url, repository, blob) for blob in pushed.blobs)
    assert sorted(proxy.uploaded_digests()) == sorted(pushed.blobs)
    outcomes = [(s["kind"], s["digest"], s["outcome"]) for s in document["steps"]]
    base = base_layer(pushed)
    assert outcomes.count(("blob", base, "copied")) == 1
    assert outcomes.count(("blob", base, "present")) == 1
    # Children were pushed by digest before the index, and the index before its tag.
    puts = [r.path.rsplit("/", 1)[1] for r in proxy.requests_for("PUT", "/manifests/")]
    assert puts == [*(image.digest for image in pushed.platforms.values()), digest, "1.4.0"]


def base_layer(pushed) -> str:
    """The digest of the layer every platform has (the shared base)."""
    layers = [
        {layer["digest"] for layer in json.loads(image.manifest)["layers"]}
        for image in pushed.platforms.values()
    ]
    (shared,) = set.intersection(*layers)
    return shared


def test_the_result_is_one_line_on_stdout_and_the_steps_are_progress(
    capsys, monkeypatch, source, proxy
):
    registry, pushed = source
    use_credentials(monkeypatch, proxy.host)
    destination = f"{proxy.host}/{fresh('api')}"
    code, out, err = copy(
        capsys, f"{registry.host}/acme/shop/api@{pushed.index.digest}", destination
    )
    assert code == 0, err
    assert out == f"{destination}@{pushed.index.digest}\n"
    progress = err.splitlines()
    assert len(progress) == 3 + 2 * 3  # 3 manifests; 2 platforms x (config, base, app)
    assert f"manifest {pushed.index.digest}" in progress[-1]
    assert sum(line.endswith(": copied") for line in progress) == 3 + 5
    assert REGISTRY_PASSWORD not in out + err


def test_a_blob_the_destination_has_is_not_sent_again(capsys, monkeypatch, source, target, proxy):
    registry, pushed = source
    repository = fresh("api")
    base = base_layer(pushed)
    # The base layer is already in the destination repository (an earlier release had it).
    started = authed().post(f"{target.url}/v2/{repository}/blobs/uploads/")
    location = requests.compat.urljoin(target.url, started.headers["Location"])
    put = authed().put(f"{location}&digest={base}", data=pushed.blobs[base])
    assert put.status_code == 201
    use_credentials(monkeypatch, proxy.host)
    code, _, err = copy(capsys, f"{registry.host}/acme/shop/api:v1", f"{proxy.host}/{repository}")
    assert code == 0, err
    uploaded = proxy.uploaded_digests()
    assert base not in uploaded
    assert sorted(uploaded) == sorted(d for d in pushed.blobs if d != base)
    # Asked for with a HEAD (once per platform), never started as an upload.
    heads = [r for r in proxy.requests_for("HEAD", f"/blobs/{base}")]
    assert [r.status for r in heads] == [200, 200]


def test_an_interrupted_copy_resumes_sending_only_what_is_missing(
    capsys, monkeypatch, source, target
):
    registry, pushed = source
    repository = fresh("api")

    def after_two_blobs(request: Forwarded, before: list[Forwarded]) -> bool:
        """The connection drops on the first upload started after two blobs went up."""
        done = sum(r.is_blob_upload and r.status == 201 for r in before)
        return request.method == "POST" and "/blobs/uploads/" in request.path and done >= 2

    with CountingProxy(target.url, drop=after_two_blobs).serving() as failing:
        use_credentials(monkeypatch, failing.host)
        code, out, err = copy(
            capsys, f"{registry.host}/acme/shop/api:v1", f"{failing.host}/{repository}:v1"
        )
    assert code == 1
    assert out == ""
    *progress, error = err.strip().splitlines()
    assert [line.endswith(": copied") for line in progress] == [True, True]
    assert error.startswith("shipline: error: copy to ")
    assert "interrupted" in error and "run it again" in error
    first = failing.uploaded_digests()
    assert len(first) == 2
    assert failing.requests_for("PUT", "/manifests/") == []  # no manifest names missing blobs

    with CountingProxy(target.url).serving() as counting:
        use_credentials(monkeypatch, counting.host)
        code, out, err = copy(
            capsys, f"{registry.host}/acme/shop/api:v1", f"{counting.host}/{repository}:v1"
        )
        assert code == 0, err
        assert out == f"{counting.host}/{repository}@{pushed.index.digest}\n"
    again = counting.uploaded_digests()
    assert sorted(again) == sorted(set(pushed.blobs) - set(first))
    for image in (pushed.index, *pushed.platforms.values()):
        assert manifest_at(target.url, repository, image.digest).content == image.manifest


def test_a_rerun_of_a_finished_copy_sends_nothing(capsys, monkeypatch, source, target, proxy):
    registry, pushed = source
    use_credentials(monkeypatch, proxy.host)
    destination = f"{proxy.host}/{fresh('api')}:v1"
    assert copy(capsys, f"{registry.host}/acme/shop/api:v1", destination)[0] == 0
    proxy.seen.clear()
    code, _, err = copy(capsys, f"{registry.host}/acme/shop/api:v1", destination)
    assert code == 0, err
    assert starts_of_uploads(proxy) == []
    # The index is there, so nothing below it is looked at; the tag already names it.
    assert proxy.requests_for("PUT") == []
    assert err.splitlines() == [
        f"manifest {pushed.index.digest} ({len(pushed.index.manifest)} B): present",
        f"tag v1: present -> {pushed.index.digest}",
    ]


def test_a_tag_that_names_another_image_is_moved_where_the_registry_allows_it(
    capsys, monkeypatch, source, target, proxy
):
    registry, pushed = source
    use_credentials(monkeypatch, proxy.host)
    repository = fresh("api")
    other = push_image(authed(), target.url, repository, "v1", "an older build")
    code, _, err = copy(
        capsys, f"{registry.host}/acme/shop/api:v1", f"{proxy.host}/{repository}:v1"
    )
    assert code == 0, err
    assert other.digest != pushed.index.digest
    assert f"tag v1: tagged -> {pushed.index.digest}" in err
    assert (
        manifest_at(target.url, repository, "v1").headers["Docker-Content-Digest"]
        == pushed.index.digest
    )


# --- Within one registry: mounts ----------------------------------------------------------


def test_a_copy_within_one_registry_mounts_every_blob(capsys, monkeypatch, source, target, proxy):
    registry, pushed = source
    use_credentials(monkeypatch, proxy.host)
    first = f"{proxy.host}/{fresh('staging')}"
    assert copy(capsys, f"{registry.host}/acme/shop/api:v1", first)[0] == 0
    proxy.seen.clear()
    second = fresh("production")
    code, _, err = copy(capsys, f"{first}@{pushed.index.digest}", f"{proxy.host}/{second}:v1")
    assert code == 0, err
    starts = starts_of_uploads(proxy)
    assert {r.query.get("from") for r in starts} == {first.split("/", 1)[1]}
    assert sorted(r.query["mount"] for r in starts) == sorted(pushed.blobs)
    assert {r.status for r in starts} == {201}
    assert proxy.uploaded_digests() == []
    assert proxy.requests_for("PATCH") == []
    assert err.count(": mounted") == len(pushed.blobs)
    assert all(blob_present(target.url, second, blob) for blob in pushed.blobs)


# --- Large blobs: chunks, relative Locations ------------------------------------------------


def test_a_blob_larger_than_a_chunk_goes_up_in_ordered_chunks(capsys, monkeypatch, source, target):
    registry, _ = source
    monkeypatch.setattr(copy_module, "UPLOAD_CHUNK_BYTES", 64 * 1024)
    big = os.urandom(200 * 1024)  # 64 + 64 + 64 + 8 KiB
    pushed = push_platform_index(
        requests.Session(), registry.url, "acme/shop/big", "v1", ("amd64",), base=big
    )
    big_digest = "sha256:" + hashlib.sha256(big).hexdigest()
    with CountingProxy(target.url, relative_locations=True).serving() as proxy:
        use_credentials(monkeypatch, proxy.host)
        repository = fresh("big")
        code, _, err = copy(
            capsys, f"{registry.host}/acme/shop/big:v1", f"{proxy.host}/{repository}"
        )
    assert code == 0, err
    patches = proxy.requests_for("PATCH")
    assert [r.headers["Content-Range"] for r in patches] == [
        "0-65535",
        "65536-131071",
        "131072-196607",
        "196608-204799",
    ]
    assert [r.body_length for r in patches] == [65536, 65536, 65536, 8192]
    closing = [
        r for r in proxy.requests_for("PUT", "/blobs/uploads/") if r.query["digest"] == big_digest
    ]
    assert [(r.status, r.body_length) for r in closing] == [(201, 0)]
    stored = authed().get(f"{target.url}/v2/{repository}/blobs/{big_digest}")
    assert stored.content == big
    assert manifest_at(target.url, repository, pushed.index.digest).content == pushed.index.manifest


# --- Bearer tokens: a pull token does not push -----------------------------------------------


def test_a_token_registry_is_asked_for_a_push_token_after_the_pull_one(
    capsys, monkeypatch, source, tmp_path
):
    registry, pushed = source
    tokens = TokenServer(REGISTRY_USER, REGISTRY_PASSWORD, tmp_path / "token-cert.pem")
    with tokens.serving(), start_registry(tmp_path / "token", tokens.registry_auth()) as ghcr_like:
        use_credentials(monkeypatch, ghcr_like.host)
        code, out, err = copy(
            capsys, f"{registry.host}/acme/shop/api:v1", f"{ghcr_like.host}/o/r/api:v1"
        )
    assert code == 0, err
    assert out == f"{ghcr_like.host}/o/r/api@{pushed.index.digest}\n"
    scopes = [seen["query"].get("scope") for seen in tokens.requests_seen]
    assert "repository:o/r/api:pull" in scopes
    assert "repository:o/r/api:pull,push" in scopes
    assert all(seen["authorized"] for seen in tokens.requests_seen)


# --- The function promote calls --------------------------------------------------------------


def test_copy_image_returns_the_destination_by_digest_and_reports_each_step(source, target, proxy):
    registry, pushed = source
    steps = []
    destination = f"{proxy.host}/{fresh('api')}"
    image = copy_image(
        f"{registry.host}/acme/shop/api:v1",
        destination,
        credentials=[RegistryCredentials(proxy.host, REGISTRY_USER, REGISTRY_PASSWORD)],
        report=steps.append,
    )
    assert image == f"{destination}@{pushed.index.digest}"
    assert [(s.kind, s.outcome) for s in steps if s.kind == "manifest"] == [
        ("manifest", "copied")
    ] * 3


# --- Refusals: exit 2, one line, nothing sent -------------------------------------------------


def test_no_credentials_for_the_destination_is_exit_2(capsys, source, proxy):
    registry, _ = source
    code, out, err = copy(
        capsys, f"{registry.host}/acme/shop/api:v1", f"{proxy.host}/{fresh('api')}"
    )
    assert code == 2
    assert out == ""
    assert "needs credentials" in one_error_line(err)
    assert proxy.uploaded_digests() == []


def test_wrong_credentials_are_exit_2_and_never_printed(capsys, monkeypatch, source, proxy):
    registry, _ = source
    use_credentials(monkeypatch, proxy.host, password="not-the-password")
    code, out, err = copy(
        capsys, "--json", f"{registry.host}/acme/shop/api:v1", f"{proxy.host}/{fresh('api')}"
    )
    assert code == 2
    assert "rejected the credentials" in one_error_line(err)
    assert "not-the-password" not in out + err
    assert json.loads(out)["exit_code"] == 2


def test_a_missing_source_is_exit_2(capsys, monkeypatch, source, proxy):
    registry, _ = source
    use_credentials(monkeypatch, proxy.host)
    code, _, err = copy(capsys, f"{registry.host}/acme/shop/api:v9", f"{proxy.host}/{fresh('api')}")
    assert code == 2
    assert "no such tag or digest" in one_error_line(err)
    assert proxy.seen == []


@pytest.mark.parametrize(
    ("src", "dst", "reason"),
    [
        ("127.0.0.1:1/Acme/api:v1", "127.0.0.1:2/prod/api", "malformed image reference"),
        ("127.0.0.1:1/acme/api:v1", "127.0.0.1:2/prod/api@sha256:" + "a" * 64, "names a digest"),
        ("127.0.0.1:1/acme/api:v1", "127.0.0.1:2/prod/api:-x", "malformed image reference"),
    ],
)
def test_bad_references_are_exit_2_before_anything_is_asked(capsys, src, dst, reason):
    code, out, err = copy(capsys, src, dst)
    assert code == 2
    assert out == ""
    assert reason in one_error_line(err)


# --- Hostile registries on loopback ----------------------------------------------------------

Reply = tuple[int, dict[str, str], bytes]


@contextmanager
def fake_registry(answer: Callable[[str, str, dict[str, str]], Reply], address: str = "127.0.0.1"):
    """A registry on `address` answering `answer(method, path, headers)`; every request seen."""
    seen: list[tuple[str, str, str | None]] = []

    class Handler(BaseHTTPRequestHandler):
        def _reply(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            seen.append((self.command, self.path, self.headers.get("Authorization")))
            status, headers, body = answer(self.command, self.path, dict(self.headers))
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            if "Content-Length" not in headers:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _reply

        def log_message(self, *args: object) -> None:
            pass

    with http_server(Handler, address) as server:
        yield f"{address}:{server.server_address[1]}", seen


def serving_image(pushed, blob_bytes: Callable[[str, bytes], bytes], manifest_bytes=None):
    """Answers for a source registry holding `pushed` (a PushedIndex), with what it sends
    for each blob and manifest passed through the given functions (a liar changes them)."""
    manifests = {image.digest: image for image in (pushed.index, *pushed.platforms.values())}

    def answer(method: str, path: str, headers: dict[str, str]) -> Reply:
        name, _, reference = path.partition("?")[0].rpartition("/")
        if name.endswith("/manifests"):
            image = pushed.index if reference == "v1" else manifests.get(reference)
            if image is None:
                return 404, {}, b""
            content = (manifest_bytes or (lambda d, c: c))(image.digest, image.manifest)
            return (
                200,
                {"Content-Type": image.media_type, "Docker-Content-Digest": image.digest},
                content,
            )
        if name.endswith("/blobs") and reference in pushed.blobs:
            return (
                200,
                {"Docker-Content-Digest": reference},
                blob_bytes(reference, pushed.blobs[reference]),
            )
        return 404, {}, b""

    return answer


def writes(proxy: CountingProxy) -> list[Forwarded]:
    """What the destination was asked to store or change."""
    return [r for r in proxy.seen if r.method in {"POST", "PUT", "PATCH"}]


def test_a_source_manifest_that_does_not_match_its_digest_is_refused(
    capsys, monkeypatch, source, target, proxy
):
    _, pushed = source

    def tampered(digest: str, content: bytes) -> bytes:
        return content.replace(b'"linux"', b'"evil"')

    with fake_registry(serving_image(pushed, lambda d, b: b, tampered)) as (liar, _):
        use_credentials(monkeypatch, proxy.host)
        code, out, err = copy(capsys, f"{liar}/acme/shop/api:v1", f"{proxy.host}/{fresh('api')}")
    assert code == 2
    assert out == ""
    assert "does not match its digest" in one_error_line(err)
    assert writes(proxy) == []


def test_a_source_blob_that_does_not_match_its_digest_never_lands(
    capsys, monkeypatch, source, target, proxy
):
    _, pushed = source
    base = base_layer(pushed)

    def swapped(digest: str, content: bytes) -> bytes:
        return bytes(reversed(content)) if digest == base else content

    repository = fresh("api")
    with fake_registry(serving_image(pushed, swapped)) as (liar, _):
        use_credentials(monkeypatch, proxy.host)
        code, _, err = copy(capsys, f"{liar}/acme/shop/api:v1", f"{proxy.host}/{repository}")
    assert code == 2
    assert "does not match its digest or size" in err.strip().splitlines()[-1]
    assert not blob_present(target.url, repository, base)
    assert base not in proxy.uploaded_digests()
    assert proxy.requests_for("PUT", "/manifests/") == []
    assert len(proxy.requests_for("DELETE", "/blobs/uploads/")) == 1  # the session is ended


def test_a_source_blob_longer_than_its_descriptor_is_cut_off(
    capsys, monkeypatch, source, target, proxy
):
    _, pushed = source
    base = base_layer(pushed)

    def endless(digest: str, content: bytes) -> bytes:
        return content + b"\0" * (4 * 1024 * 1024) if digest == base else content

    with fake_registry(serving_image(pushed, endless)) as (liar, _):
        use_credentials(monkeypatch, proxy.host)
        code, _, err = copy(capsys, f"{liar}/acme/shop/api:v1", f"{proxy.host}/{fresh('api')}")
    assert code == 2
    assert "more bytes than the manifest gives" in err.strip().splitlines()[-1]
    assert base not in proxy.uploaded_digests()


def test_credentials_do_not_follow_an_upload_location_to_another_host(capsys, monkeypatch, source):
    """The spec lets an upload Location be on another server; the registry's credentials
    stay with the registry (127.0.0.2 is another host to any URL)."""
    registry, pushed = source
    stored: dict[str, tuple[str, bytes]] = {}

    def elsewhere(method: str, path: str, headers: dict[str, str]) -> Reply:
        return 201, {}, b""

    with fake_registry(elsewhere, address="127.0.0.2") as (upload_host, upload_seen):

        def guarded(method: str, path: str, headers: dict[str, str]) -> Reply:
            expected = (
                "Basic "
                + base64.b64encode(f"{REGISTRY_USER}:{REGISTRY_PASSWORD}".encode()).decode()
            )
            if headers.get("Authorization") != expected:
                return 401, {"WWW-Authenticate": 'Basic realm="private"'}, b""
            plain = path.partition("?")[0]
            if plain.endswith("/blobs/uploads/") and method == "POST":
                return 202, {"Location": f"http://{upload_host}/upload/1?state=x"}, b""
            kind, _, reference = plain.rpartition("/")
            if kind.endswith("/manifests") and method == "PUT":
                image = next(
                    i for i in (pushed.index, *pushed.platforms.values()) if i.digest == reference
                )
                stored[reference] = (image.media_type, image.manifest)
                return 201, {"Docker-Content-Digest": reference}, b""
            if kind.endswith("/manifests") and reference in stored:
                media_type, content = stored[reference]
                return (
                    200,
                    {"Content-Type": media_type, "Docker-Content-Digest": reference},
                    content,
                )
            return 404, {}, b""

        with fake_registry(guarded) as (private, seen):
            use_credentials(monkeypatch, private)
            code, _, err = copy(capsys, f"{registry.host}/acme/shop/api:v1", f"{private}/prod/api")
    assert code == 0, err
    # Every blob went to the upload host (the fake never says a blob is present, so the
    # shared base went twice), keeping the Location's own query, and never with credentials.
    sent = {
        urllib.parse.parse_qs(path.partition("?")[2])["digest"][0] for _, path, _ in upload_seen
    }
    assert sent == set(pushed.blobs)
    assert all("state=x" in path for _, path, _ in upload_seen)
    assert [authorization for _, _, authorization in upload_seen] == [None] * len(upload_seen)
    assert any(authorization for _, _, authorization in seen)


def test_a_source_manifest_naming_a_blob_by_something_not_a_digest_is_refused(
    capsys, monkeypatch, proxy
):
    """Digests from a manifest go into URL paths: only `sha256:<64 hex>` is used."""
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "x", "digest": "sha256:../../../v2/other/blobs", "size": 1},
            "layers": [],
        }
    ).encode()
    digest = "sha256:" + hashlib.sha256(manifest).hexdigest()
    headers = {
        "Content-Type": "application/vnd.oci.image.manifest.v1+json",
        "Docker-Content-Digest": digest,
    }

    def answer(method: str, path: str, _: dict[str, str]) -> Reply:
        return (200, headers, manifest) if "/manifests/" in path else (404, {}, b"")

    with fake_registry(answer) as (liar, seen):
        use_credentials(monkeypatch, proxy.host)
        code, _, err = copy(capsys, f"{liar}/acme/api:v1", f"{proxy.host}/{fresh('api')}")
    assert code == 2
    assert "not a sha256 digest" in one_error_line(err)
    assert [path for _, path, _ in seen if "/blobs/" in path] == []
    assert writes(proxy) == []


def test_a_source_that_stops_sending_part_way_is_an_interrupted_copy(
    capsys, monkeypatch, source, target, proxy
):
    _, pushed = source
    base = base_layer(pushed)
    honest = serving_image(pushed, lambda d, b: b)

    def cut_short(method: str, path: str, headers: dict[str, str]) -> Reply:
        status, answer_headers, body = honest(method, path, headers)
        if path.endswith(f"/blobs/{base}"):
            # Promises the whole layer, sends half, and hangs up.
            return (
                status,
                answer_headers | {"Content-Length": str(len(body))},
                body[: len(body) // 2],
            )
        return status, answer_headers, body

    repository = fresh("api")
    with fake_registry(cut_short) as (flaky, _):
        use_credentials(monkeypatch, proxy.host)
        code, out, err = copy(capsys, f"{flaky}/acme/shop/api:v1", f"{proxy.host}/{repository}")
    assert code == 1
    assert out == ""
    error = err.strip().splitlines()[-1]
    assert "interrupted" in error and f"registry {flaky} stopped sending" in error
    assert not blob_present(target.url, repository, base)
    assert proxy.requests_for("PUT", "/manifests/") == []


def test_an_immutable_tag_on_another_image_is_refused_naming_both_digests(capsys, source):
    """ECR with immutable tags: the image is there, its tag names an older one and stays."""
    registry, pushed = source
    older = "sha256:" + "0" * 64

    def immutable(method: str, path: str, headers: dict[str, str]) -> Reply:
        reference = path.rpartition("/")[2]
        if method == "HEAD" and reference == pushed.index.digest:
            return 200, {"Docker-Content-Digest": reference}, b""
        if method == "HEAD" and reference == "v1":
            return 200, {"Docker-Content-Digest": older}, b""
        if method == "PUT":
            return 400, {"Content-Type": "application/json"}, b'{"errors":[{"code":"TAG_INVALID"}]}'
        return 404, {}, b""

    with fake_registry(immutable) as (ecr_like, seen):
        code, _, err = copy(capsys, f"{registry.host}/acme/shop/api:v1", f"{ecr_like}/prod/api:v1")
    assert code == 2
    line = one_error_line(err.strip().splitlines()[-1])
    assert f"names {older}, not {pushed.index.digest}" in line
    assert "give another tag" in line
    assert [(method, path.rpartition("/")[2]) for method, path, _ in seen if method == "PUT"] == [
        ("PUT", "v1")
    ]
