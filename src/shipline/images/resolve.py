"""Tags turned into digests: proof that each image exists, and the reference to deploy.

ECR images are looked up through ECR's API with the AWS credentials, every other registry
(GHCR, Docker Hub, a self-hosted one) through the OCI distribution API.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from shipline.errors import UsageError
from shipline.images.ecr import ecr_digest
from shipline.images.oci import OciRegistry, RegistryCredentials
from shipline.images.reference import ImageNotFound, Registry, parse_image_ref, parse_registry
from shipline.keyvalues import parse_key_values


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
    refs = parse_key_values(
        pairs,
        malformed="'{pair}' is not KEY=REF (e.g. api=ghcr.io/acme/shop/api:v1.2.0)",
        repeated="image key '{key}' is given twice",
    )
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
    return resolve_images(refs, RegistryCredentials.from_environment(os.environ))


def pin_references(refs: Mapping[str, str]) -> dict[str, str]:
    """Each `KEY=REF` by digest, `repo:tag@sha256:...`, as its registry holds it now.

    The tag stays in the reference for people; the digest is what runs. ImageNotFound (exit 2)
    names every image that is missing.
    """
    resolved = resolve_with_environment(refs)
    return {key: f"{refs[key]}@{image.digest}" for key, image in resolved.items()}
