"""Copy an image from one registry or repository to another by digest (`images copy`).

Nothing is rebuilt and the digest never changes: the manifest (an index and every child
manifest) is pushed as the exact bytes with the exact media type it was pulled with, and every
blob (config and layers) the destination lacks is sent, verified against its digest on the way.
It follows the OCI distribution spec (github.com/opencontainers/distribution-spec, spec.md):

- "Checking if content exists": a HEAD of each blob and manifest first; what is there is not
  sent again, so a copy that was interrupted is resumed by running it again.
- "Mounting a blob from another repository": within one registry a blob is mounted
  (`POST /v2/<name>/blobs/uploads/?mount=<digest>&from=<other>`); a 202 answer means the
  registry did not mount it and the upload session it opened is used instead.
- "Pushing a blob monolithically" (POST then PUT) for a blob of at most one chunk, "in chunks"
  (PATCH with Content-Range, then the closing PUT with the digest) for a larger one. Only one
  chunk is held in memory. A Location may be relative or absolute.
- "Pushing Manifests": children by digest before the index, blobs before their manifest; the
  tag last, once everything it names is there.

What a source registry answers is foreign: a manifest or blob whose bytes do not hash to its
digest is refused before the destination accepts it.
"""

from __future__ import annotations

import hashlib
import json
import urllib.parse
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import Any

from shipline.errors import ShiplineError, UsageError
from shipline.images.oci import (
    MANIFEST_MAX_BYTES,
    MANIFEST_MEDIA_TYPES,
    OciRegistry,
    RegistryCredentials,
    RegistryUnreachable,
    read_at_most,
    registry_identity,
)
from shipline.images.reference import (
    ImageNotFound,
    ImageRef,
    Registry,
    checked_digest,
    parse_image_ref,
    parse_registry,
)

# The most of a blob held in memory: a blob up to this size goes in one PUT, a larger one in
# PATCH chunks of this size.
UPLOAD_CHUNK_BYTES = 8 * 1024 * 1024
# A registry may ask for larger chunks (OCI-Chunk-Min-Length); more than this is refused.
CHUNK_MAX_BYTES = 64 * 1024 * 1024
INDEX_TYPES = frozenset(MANIFEST_MEDIA_TYPES[:2])
# An index of indexes is allowed; deeper nesting is not an image anyone builds.
MAX_INDEX_DEPTH = 3
_READ_BYTES = 64 * 1024


@dataclass(frozen=True)
class CopyStep:
    """One thing a copy did at the destination: a manifest or blob `copied`, `mounted` from
    another repository of the registry, or already `present`; or a `tag` set."""

    kind: str  # manifest | blob | tag
    digest: str
    size: int
    outcome: str  # copied | mounted | present | tagged
    media_type: str = ""
    tag: str = ""

    def line(self) -> str:
        if self.kind == "tag":
            return f"tag {self.tag}: {self.outcome} -> {self.digest}"
        return f"{self.kind} {self.digest} ({_size(self.size)}): {self.outcome}"

    def to_dict(self) -> dict[str, Any]:
        document: dict[str, Any] = {"kind": self.kind, "digest": self.digest}
        document["outcome"] = self.outcome
        if self.kind == "tag":
            document["tag"] = self.tag
        else:
            document |= {"size": self.size, "media_type": self.media_type}
        return document


Report = Callable[[CopyStep], None]


def copy_image(
    source: str,
    destination: str,
    *,
    credentials: Sequence[RegistryCredentials] = (),
    report: Report | None = None,
) -> str:
    """Copy the image `source` names (a tag or a digest) into the repository `destination`
    (optionally `:tag`), by digest; the destination reference `repo@sha256:...`.

    `credentials` are each offered to their own registry only; an ECR registry is logged in
    to with the AWS credentials. UsageError (exit 2) for a bad reference, a missing source,
    a refusal or a source that does not match its digest; ShiplineError (exit 1) when a
    registry stops answering part-way (running it again resumes).
    """
    src, dst = _source_ref(source), _destination_ref(destination)
    src_client = _client(_host(src), credentials)
    same_registry = registry_identity(_host(src)) == registry_identity(_host(dst))
    dst_client = src_client if same_registry else _client(_host(dst), credentials)
    digest = src_client.manifest_digest(src.path, src.digest or src.tag or "latest")
    copy = _Copy(src_client, src.path, dst_client, dst.path, same_registry, report)
    try:
        copy.manifest(digest, depth=0)
        if dst.tag:
            copy.tag(digest, dst.tag)
    except RegistryUnreachable as exc:
        raise ShiplineError(
            f"copy to {dst.repository} interrupted: {exc.message}; run it again to resume "
            "(what is there already is not sent again)"
        ) from None
    landed = dst_client.manifest_digest(dst.path, dst.tag or digest)
    if landed != digest:
        raise UsageError(
            f"{dst.repository}{':' + dst.tag if dst.tag else ''} names {landed} after the copy, "
            f"not {digest}"
        )
    return f"{dst.repository}@{digest}"


def _source_ref(text: str) -> ImageRef:
    ref = parse_image_ref(text)
    _host(ref)  # refuses a malformed registry
    return ref


def _destination_ref(text: str) -> ImageRef:
    ref = parse_image_ref(text)
    if ref.digest:
        raise UsageError(
            f"destination '{text}' names a digest: give a repository, optionally with a tag "
            "(the digest is the source's)"
        )
    _host(ref)
    return ref


def _host(ref: ImageRef) -> str:
    host = (ref.registry or "docker.io").lower()
    if host != "docker.io":
        parse_registry(host)
    return host


def _client(host: str, credentials: Sequence[RegistryCredentials]) -> OciRegistry:
    registry = parse_registry(host) if host != "docker.io" else Registry(host, "other")
    if registry.kind == "ecr":
        from shipline.images.ecr import ecr_registry_credentials

        return OciRegistry(host, ecr_registry_credentials(registry))
    ours = [given for given in credentials if given.are_for(host)]
    # Credentials for another registry are still given: the refusal then says whose they are.
    given = ours or list(credentials)
    return OciRegistry(host, given[0] if given else None)


@dataclass(frozen=True)
class _Manifest:
    content: bytes
    media_type: str
    document: dict[str, Any]


@dataclass
class _Copy:
    source: OciRegistry
    source_path: str
    target: OciRegistry
    target_path: str
    same_registry: bool
    report: Report | None

    def _step(self, step: CopyStep) -> None:
        if self.report is not None:
            self.report(step)

    def manifest(self, digest: str, depth: int) -> None:
        """Copy manifest `digest` and everything it names that the destination lacks."""
        if depth > MAX_INDEX_DEPTH:
            raise UsageError(f"{self._src(digest)}: indexes nested deeper than {MAX_INDEX_DEPTH}")
        size = self._exists("manifests", digest)
        if size is not None:
            # Pushed only after everything it names (below): its contents are there too.
            self._step(CopyStep("manifest", digest, size, "present"))
            return
        manifest = self._pull_manifest(digest)
        if manifest.media_type in INDEX_TYPES:
            for child in self._descriptors(manifest.document, "manifests", digest):
                if child.get("mediaType") not in MANIFEST_MEDIA_TYPES:
                    raise UsageError(
                        f"{self._src(digest)}: the index names a manifest of a media type "
                        "shipline does not copy"
                    )
                self.manifest(child["digest"], depth + 1)
        else:
            config = self._descriptors(manifest.document, "config", digest)
            for blob in [*config, *self._descriptors(manifest.document, "layers", digest)]:
                if blob.get("urls"):
                    continue  # a foreign layer: pulled from its own URLs, never pushed
                self.blob(blob)
        self._push_manifest(digest, manifest, digest)
        self._step(
            CopyStep("manifest", digest, len(manifest.content), "copied", manifest.media_type)
        )

    def tag(self, digest: str, tag: str) -> None:
        """Point `tag` at `digest`; a tag already there is left alone (immutable tags)."""
        current = self._tag_digest(tag)
        if current == digest:
            self._step(CopyStep("tag", digest, 0, "present", tag=tag))
            return
        manifest = self._pull_manifest(digest)
        try:
            self._push_manifest(tag, manifest, digest)
        except UsageError as exc:
            if current is None or isinstance(exc, RegistryUnreachable):
                raise
            raise UsageError(
                f"{self.target.host}/{self.target_path}:{tag} names {current}, not {digest}, "
                f"and the registry refused to move it ({exc.message}); tags may be immutable "
                "there: give another tag"
            ) from None
        self._step(CopyStep("tag", digest, len(manifest.content), "tagged", tag=tag))

    def _tag_digest(self, tag: str) -> str | None:
        """The digest `tag` names at the destination now, None when there is no such tag."""
        url, api_path = self.target.api_url(self.target_path)
        headers = {"Accept": ", ".join(MANIFEST_MEDIA_TYPES)}
        answer = self.target.request("HEAD", f"{url}/manifests/{tag}", api_path, headers=headers)
        answer.close()
        if answer.status_code == 404:
            return None
        self._expect(answer, 200, f"looking up tag {tag}")
        claimed = answer.headers.get("Docker-Content-Digest")
        wanted = f"{self.target.host}/{self.target_path}:{tag}"
        return checked_digest(claimed, wanted, self.target.host) if claimed else None

    def blob(self, descriptor: dict[str, Any]) -> None:
        digest, size = descriptor["digest"], descriptor["size"]
        media_type = str(descriptor.get("mediaType", ""))
        if self._exists("blobs", digest) is not None:
            self._step(CopyStep("blob", digest, size, "present", media_type))
            return
        url, api_path = self.target.api_url(self.target_path)
        start = f"{url}/blobs/uploads/"
        if self.same_registry and self.source_path != self.target_path:
            origin = self.source.api_url(self.source_path)[1]  # Docker Hub adds library/
            query = urllib.parse.urlencode({"mount": digest, "from": origin})
            start += f"?{query}"
        answer = self.target.request("POST", start, api_path, headers={"Content-Length": "0"})
        answer.close()
        if answer.status_code == 201:
            self._step(CopyStep("blob", digest, size, "mounted", media_type))
            return
        self._expect(answer, 202, f"starting the upload of blob {digest}")
        location = self._location(answer, start)
        minimum = _chunk_minimum(answer.headers.get("OCI-Chunk-Min-Length"))
        self._upload(location, digest, size, max(UPLOAD_CHUNK_BYTES, minimum))
        self._step(CopyStep("blob", digest, size, "copied", media_type))

    def _upload(self, location: str, digest: str, size: int, chunk_bytes: int) -> None:
        """Stream blob `digest` from the source into the upload session at `location`."""
        api_path = self.target.api_url(self.target_path)[1]
        hasher, sent, chunks = hashlib.sha256(), 0, self._pull_blob(digest, size, chunk_bytes)
        try:
            if size <= chunk_bytes:
                chunk = b"".join(chunks)
                hasher.update(chunk)
                self._check_blob(digest, hasher, len(chunk), size)
                closing = self.target.request(
                    "PUT",
                    _with_digest(location, digest),
                    api_path,
                    headers=_octets(len(chunk)),
                    body=chunk,
                )
            else:
                for chunk in chunks:
                    hasher.update(chunk)
                    headers = _octets(len(chunk)) | {
                        "Content-Range": f"{sent}-{sent + len(chunk) - 1}"
                    }
                    answer = self.target.request(
                        "PATCH", location, api_path, headers=headers, body=chunk
                    )
                    answer.close()
                    self._expect(answer, 202, f"uploading blob {digest}")
                    location = self._location(answer, location)
                    sent += len(chunk)
                self._check_blob(digest, hasher, sent, size)
                closing = self.target.request(
                    "PUT", _with_digest(location, digest), api_path, headers={"Content-Length": "0"}
                )
        except UsageError as exc:
            if not isinstance(exc, RegistryUnreachable):
                self._cancel(location)
            raise
        finally:
            chunks.close()
        closing.close()
        self._expect(closing, 201, f"finishing the upload of blob {digest}")

    def _pull_blob(self, digest: str, size: int, chunk_bytes: int) -> Generator[bytes, None, None]:
        """Blob `digest` of the source in chunks of `chunk_bytes`; refused past `size`."""
        url, api_path = self.source.api_url(self.source_path)
        answer = self.source.request("GET", f"{url}/blobs/{digest}", api_path, stream=True)
        try:
            if answer.status_code == 404:
                raise ImageNotFound(f"{self._src(digest)}: blob not in the source registry")
            self._expect(answer, 200, f"reading blob {digest}", registry=self.source)
            buffer, total = bytearray(), 0
            for piece in _pieces(answer, self.source.host):
                total += len(piece)
                if total > size:
                    raise UsageError(
                        f"{self._src(digest)}: registry {self.source.host} sent more bytes "
                        "than the manifest gives for this blob; nothing copied"
                    )
                buffer += piece
                while len(buffer) >= chunk_bytes:
                    yield bytes(buffer[:chunk_bytes])
                    del buffer[:chunk_bytes]
            if buffer:
                yield bytes(buffer)
        finally:
            answer.close()

    def _check_blob(self, digest: str, hasher: Any, got: int, size: int) -> None:
        if got == size and "sha256:" + hasher.hexdigest() == digest:
            return
        raise UsageError(
            f"{self._src(digest)}: registry {self.source.host} sent a blob that does not "
            "match its digest or size; not copied"
        )

    def _cancel(self, location: str) -> None:
        """End an upload session (the spec asks clients to; a failure does not matter)."""
        try:
            answer = self.target.request(
                "DELETE", location, self.target.api_url(self.target_path)[1]
            )
            answer.close()
        except UsageError:
            pass

    def _exists(self, kind: str, digest: str) -> int | None:
        """The size of blob or manifest `digest` at the destination, None when absent."""
        url, api_path = self.target.api_url(self.target_path)
        headers = {"Accept": ", ".join(MANIFEST_MEDIA_TYPES)} if kind == "manifests" else {}
        answer = self.target.request("HEAD", f"{url}/{kind}/{digest}", api_path, headers=headers)
        answer.close()
        if answer.status_code == 404:
            return None
        self._expect(answer, 200, f"looking up {digest}")
        try:
            return int(answer.headers.get("Content-Length", "0"))
        except ValueError:
            return 0

    def _pull_manifest(self, digest: str) -> _Manifest:
        """Manifest `digest` of the source: its exact bytes, checked against the digest."""
        import requests

        url, api_path = self.source.api_url(self.source_path)
        headers = {"Accept": ", ".join(MANIFEST_MEDIA_TYPES)}
        answer = self.source.request(
            "GET", f"{url}/manifests/{digest}", api_path, headers=headers, stream=True
        )
        wanted = self._src(digest)
        try:
            if answer.status_code == 404:
                raise ImageNotFound(f"{wanted}: no such manifest in the source registry")
            self._expect(answer, 200, f"reading manifest {digest}", registry=self.source)
            content = read_at_most(answer, MANIFEST_MAX_BYTES)
        except requests.RequestException as exc:
            raise RegistryUnreachable(
                f"registry {self.source.host} stopped sending: {type(exc).__name__}"
            ) from None
        finally:
            answer.close()
        if content is None or "sha256:" + hashlib.sha256(content).hexdigest() != digest:
            raise UsageError(
                f"{wanted}: registry {self.source.host} answered a manifest that does not match "
                "its digest; nothing copied"
            )
        media_type = answer.headers.get("Content-Type", "").split(";")[0].strip()
        try:
            document = json.loads(content)
        except ValueError:
            document = None
        if not isinstance(document, dict):
            raise UsageError(f"{wanted}: the manifest is not a JSON object")
        declared = document.get("mediaType")
        if media_type not in MANIFEST_MEDIA_TYPES or declared not in (None, media_type):
            # The spec: a client rejects a manifest whose mediaType is not its Content-Type.
            raise UsageError(
                f"{wanted}: registry {self.source.host} answered a manifest of a media type "
                "shipline does not copy, or one that contradicts its mediaType"
            )
        return _Manifest(content, media_type, document)

    def _push_manifest(self, reference: str, manifest: _Manifest, digest: str) -> None:
        url, api_path = self.target.api_url(self.target_path)
        answer = self.target.request(
            "PUT",
            f"{url}/manifests/{reference}",
            api_path,
            headers={"Content-Type": manifest.media_type},
            body=manifest.content,
        )
        answer.close()
        self._expect(answer, 201, f"pushing manifest {reference}")
        claimed = answer.headers.get("Docker-Content-Digest")
        wanted = f"{self.target.host}/{self.target_path}@{digest}"
        if claimed and checked_digest(claimed, wanted, self.target.host) != digest:
            raise UsageError(
                f"{wanted}: registry {self.target.host} stored the manifest under another digest"
            )

    def _location(self, answer: Any, requested: str) -> str:
        """The upload URL a 202 names, absolute (the spec allows a relative one)."""
        location = answer.headers.get("Location")
        if not location:
            raise UsageError(
                f"registry {self.target.host} opened an upload without a Location; nothing copied"
            )
        absolute = urllib.parse.urljoin(requested, str(location))
        if urllib.parse.urlsplit(absolute).scheme not in {"http", "https"}:
            raise UsageError(f"registry {self.target.host} named an upload URL that is not http(s)")
        return absolute

    def _expect(
        self, answer: Any, status: int, doing: str, registry: OciRegistry | None = None
    ) -> None:
        host = (registry or self.target).host
        if answer.status_code == status:
            return
        if answer.status_code == 403:
            raise UsageError(f"registry {host} denied {doing}")
        raise UsageError(f"registry {host} answered HTTP {answer.status_code} to {doing}")

    def _descriptors(
        self, document: dict[str, Any], field: str, digest: str
    ) -> list[dict[str, Any]]:
        """The descriptors under `field` of manifest `digest` (`config` is one), each with a
        sha256 digest and a size."""
        wanted = self._src(digest)
        value = document.get(field)
        if field == "config":
            value = [value]
        if not isinstance(value, list):
            raise UsageError(f"{wanted}: the manifest has no {field} list")
        for descriptor in value:
            if not isinstance(descriptor, dict):
                raise UsageError(
                    f"{wanted}: the manifest's {field} holds something not a descriptor"
                )
            checked_digest(str(descriptor.get("digest", "")), wanted, self.source.host)
            size = descriptor.get("size")
            if not isinstance(size, int) or isinstance(size, bool) or size < 0:
                raise UsageError(f"{wanted}: a descriptor in the manifest has no valid size")
        return value

    def _src(self, digest: str) -> str:
        return f"{self.source.host}/{self.source_path}@{digest}"


def _pieces(answer: Any, host: str) -> Generator[bytes, None, None]:
    """A streamed body; a connection that drops part-way is an unreachable registry."""
    import requests

    try:
        yield from answer.iter_content(chunk_size=_READ_BYTES)
    except requests.RequestException as exc:
        raise RegistryUnreachable(
            f"registry {host} stopped sending: {type(exc).__name__}"
        ) from None


def _chunk_minimum(header: str | None) -> int:
    if not header:
        return 0
    try:
        minimum = int(header)
    except ValueError:
        return 0
    if minimum > CHUNK_MAX_BYTES:
        raise UsageError(
            f"the destination registry asks for upload chunks of more than "
            f"{CHUNK_MAX_BYTES // (1024 * 1024)} MiB"
        )
    return max(minimum, 0)


def _with_digest(location: str, digest: str) -> str:
    """The upload URL with `digest=` added, keeping the query parameters it has."""
    parts = urllib.parse.urlsplit(location)
    query = parts.query + ("&" if parts.query else "") + urllib.parse.urlencode({"digest": digest})
    return urllib.parse.urlunsplit(parts._replace(query=query))


def _octets(length: int) -> dict[str, str]:
    return {"Content-Type": "application/octet-stream", "Content-Length": str(length)}


def _size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KiB"
    return f"{size / (1024 * 1024):.1f} MiB"
