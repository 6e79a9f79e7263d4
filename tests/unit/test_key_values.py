"""KEY=VALUE arguments: `deploy --image` and `images resolve` read them by one rule."""

from __future__ import annotations

import pytest

from shipline.errors import UsageError
from shipline.images.reference import parse_image_ref, path_problem
from shipline.images.resolve import parse_key_refs
from shipline.release.plan import parse_assignments


def read_by_deploy(pair: str) -> dict[str, str] | None:
    try:
        return parse_assignments([pair], "--image")
    except UsageError as exc:
        assert exc.exit_code == 2
        return None


def read_by_resolve(pair: str) -> dict[str, str] | None:
    try:
        return parse_key_refs([pair])
    except UsageError as exc:
        assert exc.exit_code == 2
        return None


@pytest.mark.parametrize(
    ("pair", "expected"),
    [
        ("api=ghcr.io/acme/api:v1", {"api": "ghcr.io/acme/api:v1"}),
        ("web = ghcr.io/acme/web:v1 ", {"web": "ghcr.io/acme/web:v1"}),  # blanks dropped
        ("api=b@x=y", {"api": "b@x=y"}),  # the first '=' separates
        ("api.v1=ghcr.io/acme/api:v1", None),  # a key is letters, digits, '_' and '-'
        ("my api=ghcr.io/acme/api:v1", None),
        ("api=ghcr.io/acme/api:v1\n", None),  # a line break ends no part
        ("api\n=ghcr.io/acme/api:v1", None),
        ("api=", None),
        ("=ghcr.io/acme/api:v1", None),
        ("api", None),
    ],
)
def test_deploy_and_resolve_accept_and_refuse_the_same_pairs(pair, expected):
    assert read_by_deploy(pair) == expected
    assert read_by_resolve(pair) == expected


@pytest.mark.parametrize(
    "path",
    ["acme/api", "a.b_c__d---e/f", "acme//api", "acme/api/", "acme/-api", "Acme/api", "a___b"],
)
def test_image_references_and_build_plan_paths_follow_one_grammar(path):
    try:
        parse_image_ref(f"ghcr.io/{path}:v1")
        reference_ok = True
    except UsageError:
        reference_ok = False
    assert reference_ok is (path_problem(path) is None)
