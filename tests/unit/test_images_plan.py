"""The build plan: registry kinds, repository names, case, and refused names."""

from __future__ import annotations

import json

import pytest

from shipline.config import ImageSpec
from shipline.errors import UsageError
from shipline.images.build import build_plan, normalize_prefix, repository_path
from shipline.images.reference import Registry, parse_registry, path_problem

API = ImageSpec("api", "apps/api", "apps/api/Dockerfile")
WEB = ImageSpec(
    "web", "apps/web", "apps/web/Containerfile", "runtime", {"NODE_ENV": "production", "A": "1"}
)


@pytest.mark.parametrize(
    ("host", "kind", "account", "region"),
    [
        ("123456789012.dkr.ecr.us-east-1.amazonaws.com", "ecr", "123456789012", "us-east-1"),
        ("210987654321.dkr.ecr.eu-central-1.amazonaws.com", "ecr", "210987654321", "eu-central-1"),
        (
            "123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com",
            "ecr",
            "123456789012",
            "us-gov-west-1",
        ),
        ("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn", "ecr", "123456789012", "cn-north-1"),
        ("ghcr.io", "ghcr", None, None),
        ("GHCR.IO", "ghcr", None, None),
        ("registry.example.com:5000", "other", None, None),
        ("localhost:5000", "other", None, None),
        ("localhost", "other", None, None),
        ("127.0.0.1:5000", "other", None, None),
        ("public.ecr.aws", "other", None, None),
        ("docker.io", "other", None, None),
    ],
)
def test_registry_kind_and_ecr_account_region(host, kind, account, region):
    registry = parse_registry(host)
    assert (registry.kind, registry.account, registry.region) == (kind, account, region)
    assert registry.host == host.lower()


@pytest.mark.parametrize(
    ("host", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("https://ghcr.io", "without a scheme"),
        ("ghcr.io/acme", "host name only"),
        ("myregistry", "needs a dot or a port"),
        ("-bad.example.com", "not a valid host name"),
        ("bad_host.example.com", "not a valid host name"),
        ("host.example.com:port", "not a valid host name"),
    ],
)
def test_invalid_registry_hosts_are_refused_with_the_reason(host, reason):
    with pytest.raises(UsageError) as caught:
        parse_registry(host)
    assert reason in caught.value.message
    assert caught.value.exit_code == 2


def test_prefix_is_lowercased_with_a_note():
    assert normalize_prefix("Acme-Corp/Agent-SaaS") == (
        "acme-corp/agent-saas",
        [
            "image_prefix 'Acme-Corp/Agent-SaaS' lowercased to 'acme-corp/agent-saas' "
            "(repository names are lower case in every registry)"
        ],
    )
    assert normalize_prefix("/agent-saas/") == ("agent-saas", [])


@pytest.mark.parametrize(
    "path", ["a", "acme/shop/api", "a.b_c__d---e/f", "agent-saas/api", "0/1/2/3"]
)
def test_paths_that_fit_the_grammar(path):
    assert path_problem(path) is None


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("", "empty"),
        ("acme//api", "empty component"),
        ("acme/-api", "component '-api'"),
        ("acme/api-", "component 'api-'"),
        ("acme/a..b", "component 'a..b'"),
        ("acme/a___b", "component 'a___b'"),
        ("acme/my app", "component 'my app'"),
        ("Acme/api", "component 'Acme'"),
    ],
)
def test_paths_that_break_the_grammar_name_the_component(path, reason):
    assert reason in path_problem(path)


def test_ghcr_plan_lowercases_github_repository_and_builds_the_matrix():
    plan = build_plan("ghcr.io", "Acme/Agent-SaaS", [API, WEB])
    assert plan.registry == Registry("ghcr.io", "ghcr")
    assert [image.repository for image in plan.images] == [
        "ghcr.io/acme/agent-saas/api",
        "ghcr.io/acme/agent-saas/web",
    ]
    outputs = plan.outputs()
    assert outputs["kind"] == "ghcr"
    assert outputs["aws_region"] == ""
    assert json.loads(outputs["matrix"]) == {
        "include": [
            {
                "name": "api",
                "repository": "ghcr.io/acme/agent-saas/api",
                "context": "apps/api",
                "dockerfile": "apps/api/Dockerfile",
                "target": "",
                "build_args": "",
            },
            {
                "name": "web",
                "repository": "ghcr.io/acme/agent-saas/web",
                "context": "apps/web",
                "dockerfile": "apps/web/Containerfile",
                "target": "runtime",
                "build_args": "NODE_ENV=production\nA=1",
            },
        ]
    }
    assert json.loads(outputs["repositories"]) == {
        "api": "ghcr.io/acme/agent-saas/api",
        "web": "ghcr.io/acme/agent-saas/web",
    }
    document = plan.to_dict()
    assert document["login"]["method"] == "github-token"
    assert document["login"]["permissions"] == "packages: write"
    assert document["notes"] and "lowercased" in document["notes"][0]


def test_ecr_plan_carries_account_region_and_the_aws_login():
    plan = build_plan("123456789012.dkr.ecr.us-east-1.amazonaws.com", "agent-saas", [API])
    document = plan.to_dict()
    assert document["kind"] == "ecr"
    assert document["ecr"] == {"account": "123456789012", "region": "us-east-1"}
    assert document["login"]["method"] == "aws"
    assert document["images"][0]["path"] == "agent-saas/api"
    assert document["images"][0]["repository"] == (
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/agent-saas/api"
    )
    assert plan.outputs()["aws_region"] == "us-east-1"
    assert plan.outputs()["aws_account"] == "123456789012"
    assert document["notes"] == []


def test_other_registry_plan_allows_an_empty_prefix():
    plan = build_plan("registry.example.com:5000", "", [API])
    assert plan.images[0].repository == "registry.example.com:5000/api"
    assert plan.to_dict()["login"]["method"] == "credentials"


def test_ghcr_needs_an_owner():
    with pytest.raises(UsageError, match="GHCR repositories live under an owner"):
        build_plan("ghcr.io", "", [API])


def test_ecr_refuses_double_separators_the_grammar_allows():
    registry = parse_registry("123456789012.dkr.ecr.us-east-1.amazonaws.com")
    assert repository_path(Registry("ghcr.io", "ghcr"), "acme/a__b", "api") == "acme/a__b/api"
    with pytest.raises(UsageError, match="not a valid ECR repository name"):
        repository_path(registry, "a__b", "api")


def test_too_long_names_are_refused():
    with pytest.raises(UsageError, match="longer than 255"):
        build_plan("ghcr.io", "acme/" + "x" * 250, [API])


def test_bad_prefix_is_refused_naming_the_component():
    with pytest.raises(UsageError) as caught:
        build_plan("ghcr.io", "acme/my_-shop", [API])
    assert "repository 'acme/my_-shop/api' is not a valid repository name" in caught.value.message
    assert "component 'my_-shop'" in caught.value.message


def test_no_images_is_refused():
    with pytest.raises(UsageError, match="no images to build"):
        build_plan("ghcr.io", "acme/shop", [])


def test_the_plan_names_the_promotion_order_a_tag_push_deploys_by(tmp_path):
    from shipline.images.build import configured_build_plan

    config = tmp_path / "shipline.yml"
    environment = "{cluster: c, history: 's3://my-releases/x', services: {api: {}}}"
    config.write_text(
        "version: 1\n"
        f"environments:\n  staging: {environment}\n  production: {environment}\n"
        "images:\n  api: {context: apps/api}\n"
    )
    plain = configured_build_plan(config, "ghcr.io", "acme/shop")
    assert json.loads(plain.outputs()["promotion"]) == []
    config.write_text(config.read_text() + "promotion: [staging, production]\n")
    plan = configured_build_plan(config, "ghcr.io", "acme/shop")
    assert json.loads(plan.outputs()["promotion"]) == ["staging", "production"]
    assert plan.to_dict()["promotion"] == ["staging", "production"]
