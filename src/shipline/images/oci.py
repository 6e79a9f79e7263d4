"""Image references: `[registry[:port]/]path[:tag][@sha256:<64 hex>]`.

The grammar is the one Docker and OCI tools share (distribution's `reference` package): path
components are lower-case alphanumerics joined by `.`, `_`, `__` or runs of `-`; the first
component is a registry when it has a `.` or a `:`, or is `localhost`; a tag is at most 128
word characters, dots and dashes, not starting with either of the last two. A reference that
does not fit is refused before anything changes, so a typo never reaches a task definition.

Below the references: which kind of registry a host is (ECR, GHCR, other), and the look-ups
of what a registry holds: tags turned into digests (ECR's DescribeImages, the OCI distribution
API elsewhere, with anonymous, basic or bearer-token access) and tags added in ECR.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from shipline.errors import UsageError

_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[0-9a-fA-F:]+\])"
# Each is used with fullmatch: `$` would also accept a final "\n".
_REGISTRY = re.compile(rf"{_HOST}(?::[0-9]+)?")
_PATH_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_TAG = re.compile(r"[\w][\w.-]{0,127}")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_NAME_MAX = 255


@dataclass(frozen=True)
class ImageRef:
    registry: str | None
    path: str
    tag: str | None
    digest: str | None

    @property
    def repository(self) -> str:
        """The reference without tag and digest (`registry/path`)."""
        return f"{self.registry}/{self.path}" if self.registry else self.path

    def __str__(self) -> str:
        text = self.repository
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def parse_image_ref(text: str) -> ImageRef:
    """The parts of `text`; UsageError saying what is wrong when it is not a reference."""
    problem = _problem(text)
    if problem:
        raise UsageError(f"malformed image reference '{text}': {problem}")
    rest, _, digest = text.partition("@")
    name, tag = rest, None
    last_slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > last_slash:
        name, tag = rest[:colon], rest[colon + 1 :]
    first, slash, remainder = name.partition("/")
    if slash and _is_registry(first):
        return ImageRef(first, remainder, tag, digest or None)
    return ImageRef(None, name, tag, digest or None)


def _is_registry(component: str) -> bool:
    return "." in component or ":" in component or component == "localhost"


def _problem(text: str) -> str | None:
    """Why `text` is not an image reference, or None when it is one."""
    if not text or text != text.strip():
        return "empty or surrounded by spaces"
    rest, at, digest = text.partition("@")
    if at and not _DIGEST.fullmatch(digest):
        return "the digest must be sha256: followed by 64 lower-case hex digits"
    name, tag = rest, None
    colon = rest.rfind(":")
    if colon > rest.rfind("/"):
        name, tag = rest[:colon], rest[colon + 1 :]
    if tag is not None and not _TAG.fullmatch(tag):
        return (
            "the tag must be 1-128 letters, digits, '_', '.' or '-', not starting with '.' or '-'"
        )
    if len(name) > _NAME_MAX:
        return f"the name is longer than {_NAME_MAX} characters"
    components = name.split("/")
    if len(components) > 1 and _is_registry(components[0]):
        if not _REGISTRY.fullmatch(components[0]):
            return f"'{components[0]}' is not a registry host[:port]"
        components = components[1:]
    for component in components:
        if not _PATH_COMPONENT.fullmatch(component):
            return (
                f"'{component}' is not a repository path component "
                "(lower-case letters and digits, joined by '.', '_', '__' or '-')"
            )
    return None


# Registries: which kind a host is. ECR hosts carry the account and region of the registry.

_ECR_HOST = re.compile(
    r"(?P<account>[0-9]{12})\.dkr\.ecr(?:-fips)?\.(?P<region>[a-z]{2}(?:-[a-z]+)+-[0-9]+)"
    r"\.amazonaws\.com(?:\.cn)?"
)


@dataclass(frozen=True)
class Registry:
    """A registry host and what kind it is: ECR (with its account and region), GHCR, other."""

    host: str
    kind: str  # ecr | ghcr | other
    account: str | None = None
    region: str | None = None


def parse_registry(text: str) -> Registry:
    """A registry host (`ghcr.io`, `<account>.dkr.ecr.<region>.amazonaws.com`, `host:5000`)."""
    host = text.strip()
    if not host:
        raise UsageError("registry is empty: give a host such as ghcr.io")
    if "://" in host:
        raise UsageError(f"registry '{text}' must be a host name without a scheme (no https://)")
    if "/" in host:
        raise UsageError(
            f"registry '{text}' must be a host name only; put the path into image_prefix"
        )
    if not _REGISTRY.fullmatch(host):
        raise UsageError(f"registry '{text}' is not a valid host name (letters, digits, '-', '.')")
    host = host.lower()
    # Without a dot or a port, `name/repo` means Docker Hub's namespace `name`, not a host.
    if "." not in host and ":" not in host and host != "localhost":
        raise UsageError(
            f"registry '{text}' needs a dot or a port (e.g. {host}.example.com or {host}:5000); "
            "a bare name would be read as a Docker Hub namespace"
        )
    ecr = _ECR_HOST.fullmatch(host)
    if ecr:
        return Registry(host, "ecr", account=ecr["account"], region=ecr["region"])
    if host == "ghcr.io":
        return Registry(host, "ghcr")
    return Registry(host, "other")


# Look-ups: what a registry holds. ECR through its API (DescribeImages, PutImage), every
# other registry (GHCR, Docker Hub, a self-hosted one) through the OCI distribution API.

# The two names an immutable tag conflict is reported under: AWS says ImageTagAlreadyExists,
# moto (and AWS for a tag already on the same digest) ImageAlreadyExists.
IMMUTABLE_TAG_ERRORS = frozenset({"ImageTagAlreadyExistsException", "ImageAlreadyExistsException"})


class ImageNotFound(UsageError):
    """A reference names an image, tag or repository the registry does not have."""


def ecr_digest(registry: Registry, path: str, tag: str | None, digest: str | None) -> str:
    """The digest ECR holds for `path:tag` (or proof that `path@digest` exists)."""
    from shipline import aws

    ecr = aws.client("ecr", registry.region)
    image_id = {"imageDigest": digest} if digest else {"imageTag": tag}
    wanted = f"{registry.host}/{path}" + (f"@{digest}" if digest else f":{tag}")
    try:
        details = ecr.describe_images(
            registryId=registry.account, repositoryName=path, imageIds=[image_id]
        )["imageDetails"]
    except ecr.exceptions.RepositoryNotFoundException:
        raise ImageNotFound(f"{wanted}: ECR repository '{path}' does not exist") from None
    except ecr.exceptions.ImageNotFoundException:
        raise ImageNotFound(f"{wanted}: no such image in ECR") from None
    if not details:
        raise ImageNotFound(f"{wanted}: no such image in ECR")
    return checked_digest(str(details[0]["imageDigest"]), wanted, registry.host)


def tag_conflict(reference: str, current: str, wanted: str) -> str | None:
    """Why `reference` cannot be given to `wanted` when it already names `current`, or None."""
    if current == wanted:
        return None
    return (
        f"{reference} already names {current}, not {wanted}; ECR tags are immutable "
        "(delete that image or push under another tag)"
    )


def ecr_add_tags(registry: Registry, path: str, digest: str, tags: Iterable[str]) -> dict[str, str]:
    """Give the image `path@digest` more tags in ECR, without pulling or pushing layers.

    Each tag ends up `added` or already `present` (on this digest). A tag on another image is
    refused: ECR reports that as ImageTagAlreadyExists or ImageAlreadyExists (moto, and AWS
    when the tag is already on this digest), so the tag's digest decides, not the error name.
    """
    from botocore.exceptions import ClientError

    from shipline import aws

    ecr = aws.client("ecr", registry.region)
    found = ecr.batch_get_image(
        registryId=registry.account,
        repositoryName=path,
        imageIds=[{"imageDigest": digest}],
        acceptedMediaTypes=list(MANIFEST_MEDIA_TYPES),
    )["images"]
    if not found:
        raise ImageNotFound(f"{registry.host}/{path}@{digest}: no such image in ECR")
    manifest = found[0]["imageManifest"]
    media_type = found[0].get("imageManifestMediaType")
    outcomes = {}
    for tag in tags:
        extra = {"imageManifestMediaType": media_type} if media_type else {}
        try:
            ecr.put_image(
                registryId=registry.account,
                repositoryName=path,
                imageManifest=manifest,
                imageTag=tag,
                imageDigest=digest,
                **extra,
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in IMMUTABLE_TAG_ERRORS:
                raise
            reference = f"{registry.host}/{path}:{tag}"
            problem = tag_conflict(reference, ecr_digest(registry, path, tag, None), digest)
            if problem:
                raise UsageError(problem) from None
            outcomes[tag] = "present"
        else:
            outcomes[tag] = "added"
    return outcomes


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


def _is_host_name(name: str) -> bool:
    import ipaddress

    if re.fullmatch(_HOST, name):
        return True
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


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
    if not _is_host_name(hostname):
        raise UsageError(f"{where} is not an http(s) URL with a host; nothing sent")
    if parts.scheme == "http" and not _is_loopback_name(hostname):
        raise UsageError(f"{where} at {hostname} is not HTTPS; refused, nothing sent")
    return TokenRealm(realm, hostname)


def checked_digest(text: str, wanted: str, host: str) -> str:
    """A digest a registry answered, when it is `sha256:<64 lower-case hex>`; else UsageError.

    The answer itself is not repeated: it is foreign text.
    """
    if not _DIGEST.fullmatch(text):
        raise UsageError(
            f"{wanted}: registry {host} answered a digest that is not a sha256 digest "
            "(sha256: and 64 lower-case hex digits); nothing pinned"
        )
    return text


def _read_at_most(response: Any, limit: int) -> bytes | None:
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
            content = _read_at_most(answer, MANIFEST_MAX_BYTES)
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
        import requests

        headers = {"Accept": ", ".join(MANIFEST_MEDIA_TYPES)}
        try:
            response = self._session.request(
                method,
                url,
                headers=headers | self._auth_header(api_path),
                timeout=self.timeout,
                stream=stream,
            )
            if response.status_code == 401 and api_path not in self._authorization:
                response.close()
                challenge = response.headers.get("WWW-Authenticate", "")
                self._authorization[api_path] = self._authorize(challenge, api_path)
                response = self._session.request(
                    method,
                    url,
                    headers=headers | self._auth_header(api_path),
                    timeout=self.timeout,
                    stream=stream,
                )
        except requests.RequestException as exc:
            raise UsageError(f"cannot reach registry {self.host}: {type(exc).__name__}") from None
        if response.status_code == 401:
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


# Tags turned into digests: proof that each image exists, and the reference to deploy.


@dataclass(frozen=True)
class ResolvedImage:
    key: str
    reference: str  # as given
    repository: str  # registry host + path
    digest: str
    kind: str  # ecr | ghcr | other

    @property
    def pinned(self) -> str:
        return f"{self.repository}@{self.digest}"

    def to_dict(self) -> dict[str, str]:
        return {
            "reference": self.reference,
            "repository": self.repository,
            "digest": self.digest,
            "image": self.pinned,
            "kind": self.kind,
        }


def parse_key_refs(pairs: Iterable[str]) -> dict[str, str]:
    """`KEY=REF` arguments as a mapping; UsageError for a malformed or repeated key."""
    refs: dict[str, str] = {}
    for pair in pairs:
        key, sep, ref = pair.partition("=")
        key, ref = key.strip(), ref.strip()
        if not sep or not key or not ref:
            raise UsageError(f"'{pair}' is not KEY=REF (e.g. api=ghcr.io/acme/shop/api:v1.2.0)")
        if key in refs:
            raise UsageError(f"image key '{key}' is given twice")
        refs[key] = ref
    if not refs:
        raise UsageError("no images given: pass KEY=REF arguments")
    return refs


def resolve_images(
    refs: Mapping[str, str], credentials: RegistryCredentials | None = None
) -> dict[str, ResolvedImage]:
    """Each `KEY=REF` as the digest its registry holds; UsageError naming every missing one."""
    parsed = {key: parse_image_ref(text) for key, text in refs.items()}
    clients: dict[str, OciRegistry] = {}
    resolved, missing = {}, []
    for key, ref in parsed.items():
        host = (ref.registry or "docker.io").lower()
        registry = parse_registry(host) if host != "docker.io" else Registry(host, "other")
        # A digest wins over a tag, as in `docker pull repo:tag@sha256:...`.
        reference = ref.digest or ref.tag or "latest"
        try:
            if registry.kind == "ecr":
                digest = ecr_digest(registry, ref.path, ref.tag or "latest", ref.digest)
            else:
                client = clients.setdefault(host, OciRegistry(host, credentials))
                digest = client.manifest_digest(ref.path, reference)
        except ImageNotFound as exc:
            missing.append(f"{key}: {exc.message}")
            continue
        resolved[key] = ResolvedImage(key, refs[key], f"{host}/{ref.path}", digest, registry.kind)
    if missing:
        raise ImageNotFound("; ".join(missing))
    return resolved


def resolve_with_environment(refs: Mapping[str, str]) -> dict[str, ResolvedImage]:
    """`resolve_images` with the credentials the environment gives (SHIPLINE_REGISTRY,
    SHIPLINE_REGISTRY_USERNAME, SHIPLINE_REGISTRY_PASSWORD); ECR uses the AWS credentials."""
    import os

    return resolve_images(refs, RegistryCredentials.from_environment(os.environ))


def pin_references(refs: Mapping[str, str]) -> dict[str, str]:
    """Each `KEY=REF` by digest, `repo:tag@sha256:...`, as its registry holds it now.

    The tag stays in the reference for people; the digest is what runs. ImageNotFound (exit 2)
    names every image that is missing.
    """
    resolved = resolve_with_environment(refs)
    return {key: f"{refs[key]}@{image.digest}" for key, image in resolved.items()}
