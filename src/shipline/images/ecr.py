"""What an ECR registry holds, through its API: a tag's digest (DescribeImages) and more tags
on an image already pushed (BatchGetImage, PutImage), without pulling or pushing layers."""

from __future__ import annotations

from collections.abc import Iterable

from shipline.errors import UsageError
from shipline.images.oci import MANIFEST_MEDIA_TYPES, RegistryCredentials
from shipline.images.reference import ImageNotFound, Registry, checked_digest

# The two names an immutable tag conflict is reported under: AWS says ImageTagAlreadyExists,
# moto (and AWS for a tag already on the same digest) ImageAlreadyExists.
IMMUTABLE_TAG_ERRORS = frozenset({"ImageTagAlreadyExistsException", "ImageAlreadyExistsException"})


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


def ecr_registry_credentials(registry: Registry) -> RegistryCredentials:
    """Credentials for ECR's OCI distribution API (user `AWS`, a 12-hour token), from
    GetAuthorizationToken with the AWS credentials, as `docker login` gets them."""
    import base64

    from shipline import aws

    ecr = aws.client("ecr", registry.region)
    data = ecr.get_authorization_token(registryIds=[registry.account])["authorizationData"]
    try:
        username, _, password = (
            base64.b64decode(data[0]["authorizationToken"]).decode().partition(":")
        )
    except (IndexError, KeyError, ValueError):
        raise UsageError(f"ECR gave no usable authorization token for {registry.host}") from None
    if not username or not password:
        raise UsageError(f"ECR gave no usable authorization token for {registry.host}")
    return RegistryCredentials(registry.host, username, password)
