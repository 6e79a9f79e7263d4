"""Image references: the docker/OCI grammar, parts, and one-line refusals."""

from __future__ import annotations

import pytest

from shipline.errors import UsageError
from shipline.images.reference import ImageRef, parse_image_ref

DIGEST = "sha256:" + "a1" * 32


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("nginx", ImageRef(None, "nginx", None, None)),
        ("nginx:1.27", ImageRef(None, "nginx", "1.27", None)),
        ("library/nginx:latest", ImageRef(None, "library/nginx", "latest", None)),
        ("localhost/app:v1", ImageRef("localhost", "app", "v1", None)),
        ("localhost:5000/app:v1", ImageRef("localhost:5000", "app", "v1", None)),
        (
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/agent-saas/api:v1.2.3",
            ImageRef(
                "123456789012.dkr.ecr.us-east-1.amazonaws.com", "agent-saas/api", "v1.2.3", None
            ),
        ),
        ("ghcr.io/acme/web@" + DIGEST, ImageRef("ghcr.io", "acme/web", None, DIGEST)),
        ("ghcr.io/acme/web:v3@" + DIGEST, ImageRef("ghcr.io", "acme/web", "v3", DIGEST)),
        ("my_app__x/a-b--c.d:T_ag-1.0", ImageRef(None, "my_app__x/a-b--c.d", "T_ag-1.0", None)),
        ("Registry.Example.com:443/app:1", ImageRef("Registry.Example.com:443", "app", "1", None)),
    ],
)
def test_well_formed_references_are_split_into_their_parts(text, expected):
    ref = parse_image_ref(text)
    assert ref == expected
    assert str(ref) == text


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        (" nginx", "spaces"),
        ("Nginx:1", "repository path component"),
        ("ghcr.io/Acme/web:v1", "'Acme'"),
        ("app:", "tag"),
        ("app:-v1", "tag"),
        ("app:" + "x" * 129, "tag"),
        ("app:v 1", "tag"),
        ("app@sha256:abc", "digest"),
        ("app@md5:" + "a" * 32, "digest"),
        ("app@" + DIGEST.upper(), "digest"),
        ("ghcr.io//web:v1", "repository path component"),
        ("web/:v1", "repository path component"),
        ("-bad.example.com/web:v1", "registry"),
        ("bad-.example.com:5000/web", "registry"),
        ("a" * 256, "longer than 255"),
        ("app_:v1", "repository path component"),
    ],
)
def test_malformed_references_are_refused_with_the_reason(text, reason):
    with pytest.raises(UsageError) as caught:
        parse_image_ref(text)
    assert reason in str(caught.value)
    assert caught.value.exit_code == 2
    assert "\n" not in str(caught.value)


def test_repository_is_the_reference_without_tag_and_digest():
    ref = parse_image_ref("ghcr.io/acme/web:v3@" + DIGEST)
    assert ref.repository == "ghcr.io/acme/web"
