"""The OCI distribution API: what a registry other than ECR holds (GHCR, Docker Hub, a
self-hosted one), with anonymous, basic or bearer-token access.

Credentials are given for one registry and offered to it alone, over HTTPS (plain HTTP only on
this machine, as Docker does), and to a token service only on that registry's own host or one
it is documented to delegate to. What a registry answers is foreign text: digests are checked,
manifests are size-limited, and neither is echoed.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shipline.errors import UsageError
from shipline.images.reference import ImageNotFound, checked_digest, is_host_name, parse_registry

# Accepted manifest types, index first: a multi-platform or attested build is an index, and
# its digest is the one to deploy.
MANIFEST_MEDIA_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
DOCKER_HUB_HOSTS = frozenset({"docker.io", "index.docker.io"})
_CHALLENGE_PARAM = re.compile(r'([A-Za-z_][A-Za-z0-9_-]*)=(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))')
# The registry SHIPLINE_REGISTRY_PASSWORD is for when SHIPLINE_REGISTRY is not set (as for
# build-images).
DEFAULT_REGISTRY = "ghcr.io"
# Token services a registry is documented to send its clients to, besides its own host name.
# Credentials go to a token service only on one of these (docs/images.md).
TOKEN_SERVICE_HOSTS: Mapping[str, frozenset[str]] = {
    "docker.io": frozenset({"auth.docker.io"}),
    "registry.gitlab.com": frozenset({"gitlab.com"}),
}
# A manifest is small; distribution refuses to store one over 4 MiB.
MANIFEST_MAX_BYTES = 4 * 1024 * 1024


def registry_identity(host: str) -> str:
    """The name a registry's credentials are kept under: lower case, Docker Hub as docker.io."""
    host = host.lower()
    return "docker.io" if host in DOCKER_HUB_HOSTS else host


@dataclass(frozen=True)
class RegistryCredentials:
    """A user name and a password or token for one registry, offered to it and nowhere else.

    GHCR takes any user name and a GITHUB_TOKEN or PAT.
    """

    registry: str  # registry_identity of the host they belong to
    username: str
    password: str = field(repr=False)

    @classmethod
    def from_environment(cls, env: Mapping[str, str]) -> RegistryCredentials | None:
        """SHIPLINE_REGISTRY_USERNAME/_PASSWORD, for the host SHIPLINE_REGISTRY names."""
        password = env.get("SHIPLINE_REGISTRY_PASSWORD", "")
        username = env.get("SHIPLINE_REGISTRY_USERNAME") or env.get("GITHUB_ACTOR", "")
        if not password:
            return None
        if not username:
            raise UsageError(
                "SHIPLINE_REGISTRY_PASSWORD is set but no user name: set SHIPLINE_REGISTRY_USERNAME"
            )
        try:
            registry = parse_registry(env.get("SHIPLINE_REGISTRY") or DEFAULT_REGISTRY)
        except UsageError as exc:
            raise UsageError(f"SHIPLINE_REGISTRY: {exc.message}") from None
        return cls(registry_identity(registry.host), username, password)

    def are_for(self, host: str) -> bool:
        return registry_identity(host) == self.registry


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """A `WWW-Authenticate` header's scheme (lower case) and parameters."""
    scheme, _, rest = header.strip().partition(" ")
    params = {}
    for name, quoted, bare in _CHALLENGE_PARAM.findall(rest):
        params[name.lower()] = quoted.replace('\\"', '"') if quoted else bare
    return scheme.lower(), params


def _is_loopback_name(name: str | None) -> bool:
    import ipaddress

    if not name:
        return False
    if name.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def is_loopback(host: str) -> bool:
    """Loopback hosts are reached over plain HTTP, as Docker does for them by default.

    `host` is `name[:port]`; it is read as a URL's authority, so `a:b@c` is host `c`.
    """
    try:
        name = urllib.parse.urlsplit(f"//{host}").hostname
    except ValueError:
        return False
    return _is_loopback_name(name)


def api_location(host: str, path: str) -> tuple[str, str]:
    """Where the distribution API of `host/path` is served (Docker Hub has its own host)."""
    if host in DOCKER_HUB_HOSTS:
        return "https://registry-1.docker.io", path if "/" in path else f"library/{path}"
    scheme = "http" if is_loopback(host) else "https"
    return f"{scheme}://{host}", path


def token_service_hosts(host: str) -> frozenset[str]:
    """Host names whose token service may get the credentials of registry `host`: the host
    name its API is served on (any port) and the ones it is documented to delegate to."""
    own = urllib.parse.urlsplit(api_location(host, "x")[0]).hostname or ""
    return frozenset({own}) | TOKEN_SERVICE_HOSTS.get(registry_identity(host), frozenset())


@dataclass(frozen=True)
class TokenRealm:
    url: str
    hostname: str


def token_realm(realm: str, registry_host: str) -> TokenRealm:
    """The token service a challenge of `registry_host` names, if it may be called at all.

    UsageError, before anything is sent, for a realm that is not an http(s) URL with a host
    name, that carries a user name or password, or that is plain HTTP past this machine.
    """
    where = f"the token service of registry {registry_host}"
    try:
        parts = urllib.parse.urlsplit(realm)
        hostname = parts.hostname
        _ = parts.port  # ValueError when it is not a number
    except ValueError:
        parts, hostname = None, None
    if parts is None or parts.scheme not in {"http", "https"} or not hostname:
        raise UsageError(f"{where} is not an http(s) URL with a host; nothing sent")
    if "@" in parts.netloc:
        raise UsageError(f"{where} names a user name or password in its URL; refused, nothing sent")
    if not is_host_name(hostname):
        raise UsageError(f"{where} is not an http(s) URL with a host; nothing sent")
    if parts.scheme == "http" and not _is_loopback_name(hostname):
        raise UsageError(f"{where} at {hostname} is not HTTPS; refused, nothing sent")
    return TokenRealm(realm, hostname)


def _origin(url: str) -> tuple[str, str]:
    parts = urllib.parse.urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


class RegistryUnreachable(UsageError):
    """A registry did not answer (connection refused or dropped, timeout)."""


def read_at_most(response: Any, limit: int) -> bytes | None:
    """The body of a streamed response, or None when it is longer than `limit` bytes."""
    chunks, size = [], 0
    for chunk in response.iter_content(chunk_size=65536):
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


class OciRegistry:
    """Manifest look-ups over the OCI distribution API: anonymous, basic, or bearer tokens.

    Credentials are offered only when they are for this registry, over HTTPS (or on this
    machine), and to a token service only on this registry's own host or one it delegates to.
    """

    def __init__(
        self, host: str, credentials: RegistryCredentials | None = None, timeout: float = 15.0
    ) -> None:
        import requests

        self.host = host
        ours = credentials is not None and credentials.are_for(host)
        self.credentials = credentials if ours else None
        self._credentials_for = credentials.registry if credentials and not ours else None
        self._withheld: str | None = None  # why the credentials were kept from a token service
        self.timeout = timeout
        self._session = requests.Session()
        self._authorization: dict[str, str] = {}  # per repository path
        self._challenges: dict[str, str] = {}  # the challenge each authorization answered

    def manifest_digest(self, path: str, reference: str) -> str:
        """The digest of `path:reference` (a tag or a digest); ImageNotFound when absent."""
        base, api_path = api_location(self.host, path)
        url = f"{base}/v2/{api_path}/manifests/{reference}"
        wanted = f"{self.host}/{path}" + (f"@{reference}" if ":" in reference else f":{reference}")
        response = self._send("HEAD", url, api_path)
        if response.status_code == 404:
            raise ImageNotFound(f"{wanted}: {self._not_found_reason(base, api_path)}")
        self._refuse_other_failures(response, wanted)
        claimed = response.headers.get("Docker-Content-Digest")
        if claimed:
            digest = checked_digest(claimed, wanted, self.host)
        else:
            # Some registries leave the header off HEAD answers: hash the manifest itself.
            digest = self._manifest_hash(url, api_path, wanted)
        if ":" in reference and digest != reference:
            raise UsageError(f"{wanted}: the registry answered with a different digest {digest}")
        return digest

    def _manifest_hash(self, url: str, api_path: str, wanted: str) -> str:
        """The sha256 of the manifest's bytes; it must agree with the digest sent along."""
        import hashlib

        answer = self._send("GET", url, api_path, stream=True)
        try:
            self._refuse_other_failures(answer, wanted)
            content = read_at_most(answer, MANIFEST_MAX_BYTES)
        finally:
            answer.close()
        if content is None:
            raise UsageError(
                f"{wanted}: registry {self.host} answered a manifest larger than "
                f"{MANIFEST_MAX_BYTES // (1024 * 1024)} MiB"
            )
        digest = "sha256:" + hashlib.sha256(content).hexdigest()
        claimed = answer.headers.get("Docker-Content-Digest")
        if claimed and checked_digest(claimed, wanted, self.host) != digest:
            raise UsageError(
                f"{wanted}: registry {self.host} answered a manifest that does not match "
                "its digest; nothing pinned"
            )
        return digest

    def _send(self, method: str, url: str, api_path: str, stream: bool = False) -> Any:
        headers = {"Accept": ", ".join(MANIFEST_MEDIA_TYPES)}
        return self.request(method, url, api_path, headers=headers, stream=stream)

    def api_url(self, path: str) -> tuple[str, str]:
        """The URL `/v2/<name>` of repository `path` on this registry, and its API path."""
        base, api_path = api_location(self.host, path)
        return f"{base}/v2/{api_path}", api_path

    def request(
        self,
        method: str,
        url: str,
        api_path: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        stream: bool = False,
    ) -> Any:
        """One request about repository `api_path`, authorized as its challenge asks.

        The authorization goes only to this registry's own origin (an upload Location may
        be elsewhere, as the distribution spec allows). A 401 whose challenge differs from
        the one the held authorization answered (a push scope after a pull token, an expired
        token) is authorized once more; the same challenge again is a refusal.
        """
        import requests

        ours = _origin(url) == _origin(api_location(self.host, api_path)[0])

        def send() -> Any:
            return self._session.request(
                method,
                url,
                headers=dict(headers or {}) | (self._auth_header(api_path) if ours else {}),
                data=body,
                timeout=self.timeout,
                stream=stream,
            )

        try:
            response = send()
            challenge = response.headers.get("WWW-Authenticate", "")
            if response.status_code == 401 and ours and self._challenges.get(api_path) != challenge:
                response.close()
                self._authorization[api_path] = self._authorize(challenge, api_path)
                self._challenges[api_path] = challenge
                response = send()
        except requests.RequestException as exc:
            raise RegistryUnreachable(
                f"cannot reach registry {self.host}: {type(exc).__name__}"
            ) from None
        if response.status_code == 401:
            response.close()
            raise self._refusal(api_path)
        return response

    def _refusal(self, api_path: str) -> UsageError:
        """Why the registry said no: no credentials for it, or the ones given were wrong."""
        asks = f"registry {self.host} needs credentials for {api_path}"
        if self._withheld:
            return UsageError(f"{asks}: {self._withheld}")
        if self._credentials_for:
            return UsageError(
                f"{asks}: the credentials given are for {self._credentials_for} "
                f"(SHIPLINE_REGISTRY, default {DEFAULT_REGISTRY}), not for {self.host}"
            )
        if self.credentials is None:
            return UsageError(
                f"{asks}: set SHIPLINE_REGISTRY to {self.host}, SHIPLINE_REGISTRY_USERNAME "
                "and SHIPLINE_REGISTRY_PASSWORD"
            )
        return UsageError(f"registry {self.host} rejected the credentials for {api_path}")

    def _auth_header(self, api_path: str) -> dict[str, str]:
        value = self._authorization.get(api_path)
        return {"Authorization": value} if value else {}

    def _authorize(self, challenge: str, api_path: str) -> str:
        """The Authorization header a 401's challenge asks for (basic, or a bearer token)."""
        import base64

        import requests

        scheme, params = parse_challenge(challenge)
        if scheme == "basic":
            if self.credentials is None:
                return ""
            pair = f"{self.credentials.username}:{self.credentials.password}".encode()
            return "Basic " + base64.b64encode(pair).decode()
        if scheme != "bearer" or not params.get("realm"):
            raise UsageError(f"registry {self.host} asks for an unknown authentication")
        realm = token_realm(params["realm"], self.host)
        query = {"scope": params.get("scope") or f"repository:{api_path}:pull"}
        if params.get("service"):
            query["service"] = params["service"]
        auth = None
        if self.credentials is not None:
            if realm.hostname in token_service_hosts(self.host):
                auth = (self.credentials.username, self.credentials.password)
            else:
                self._withheld = (
                    f"its token service at {realm.hostname} is not on {self.host}, so the "
                    "credentials were not sent there (docs/images.md)"
                )
        try:
            answer = self._session.get(realm.url, params=query, auth=auth, timeout=self.timeout)
        except requests.RequestException as exc:
            raise UsageError(
                f"cannot reach the token endpoint of {self.host}: {type(exc).__name__}"
            ) from None
        if answer.status_code in (401, 403):
            raise self._refusal(api_path)
        if answer.status_code != 200:
            raise UsageError(
                f"the token endpoint of {self.host} answered HTTP {answer.status_code}"
            )
        try:
            body = answer.json()
        except ValueError:
            body = {}
        token = body.get("token") or body.get("access_token") if isinstance(body, dict) else None
        if not token or not isinstance(token, str):
            raise UsageError(f"the token endpoint of {self.host} answered without a token")
        return f"Bearer {token}"

    def _not_found_reason(self, base: str, api_path: str) -> str:
        # A manifest 404 does not say whether the repository exists; its tag list does.
        response = self._send("GET", f"{base}/v2/{api_path}/tags/list", api_path)
        if response.status_code == 404:
            return "no such repository in the registry"
        return "no such tag or digest in the registry"

    def _refuse_other_failures(self, response: Any, wanted: str) -> None:
        if response.status_code == 403:
            raise UsageError(f"{wanted}: registry {self.host} denied access")
        if response.status_code == 404:
            raise ImageNotFound(f"{wanted}: no such image in the registry")
        if response.status_code != 200:
            raise UsageError(f"{wanted}: registry {self.host} answered HTTP {response.status_code}")
