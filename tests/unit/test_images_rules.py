"""Pure rules behind ensure-repos and resolve: drift, lifecycle, challenges, KEY=REF."""

from __future__ import annotations

import pytest

from shipline.errors import UsageError
from shipline.images.ecr import tag_conflict
from shipline.images.oci import (
    RegistryCredentials,
    api_location,
    is_loopback,
    parse_challenge,
    token_realm,
    token_service_hosts,
)
from shipline.images.reference import checked_digest
from shipline.images.repositories import (
    ObservedRepository,
    RepositoryAction,
    RepositorySettings,
    repository_actions,
    repository_drift,
)
from shipline.images.resolve import parse_key_refs
from shipline.images.retag import reuse_plan

SETTINGS = RepositorySettings(keep_tagged=30, untagged_days=3)


def observed(**changes):
    base = {
        "name": "agent-saas/api",
        "uri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/agent-saas/api",
        "tag_mutability": "IMMUTABLE",
        "scan_on_push": True,
        "encryption": "AES256",
        "kms_key": None,
        "lifecycle_policy": SETTINGS.lifecycle_policy(),
    }
    return ObservedRepository(**(base | changes))


def test_lifecycle_policy_expires_untagged_and_keeps_the_last_n_tagged():
    rules = {rule["selection"]["tagStatus"]: rule for rule in SETTINGS.lifecycle_policy()["rules"]}
    assert rules["untagged"]["selection"]["countType"] == "sinceImagePushed"
    assert rules["untagged"]["selection"]["countNumber"] == 3
    assert rules["tagged"]["selection"]["countType"] == "imageCountMoreThan"
    assert rules["tagged"]["selection"]["countNumber"] == 30
    assert rules["tagged"]["selection"]["tagPatternList"] == ["*"]
    assert {rule["action"]["type"] for rule in rules.values()} == {"expire"}


def test_a_repository_set_up_as_shipline_would_has_no_drift():
    assert repository_drift(SETTINGS, observed()) == []


def test_descriptions_and_rule_order_are_not_drift():
    policy = SETTINGS.lifecycle_policy()
    reordered = {"rules": [dict(rule, description="x") for rule in reversed(policy["rules"])]}
    assert repository_drift(SETTINGS, observed(lifecycle_policy=reordered)) == []


def test_every_difference_is_reported():
    drift = repository_drift(
        SETTINGS,
        observed(
            tag_mutability="MUTABLE",
            scan_on_push=False,
            encryption="KMS",
            kms_key="arn:aws:kms:us-east-1:123456789012:key/1",
            lifecycle_policy=None,
        ),
    )
    assert drift == [
        "tag mutability is MUTABLE, expected IMMUTABLE",
        "scan on push is off, expected on",
        "encryption is KMS, expected AES256",
        "no lifecycle policy",
    ]


def test_a_different_keep_count_is_lifecycle_drift():
    other = RepositorySettings(keep_tagged=10, untagged_days=3).lifecycle_policy()
    assert repository_drift(SETTINGS, observed(lifecycle_policy=other)) == [
        "lifecycle policy differs from shipline's (untagged expiry, keep last N)"
    ]


def test_a_different_kms_key_is_drift():
    wanted = RepositorySettings(encryption="KMS", kms_key="arn:key/wanted")
    found = observed(
        encryption="KMS", kms_key="arn:key/other", lifecycle_policy=wanted.lifecycle_policy()
    )
    assert repository_drift(wanted, found) == ["KMS key is arn:key/other, expected arn:key/wanted"]


def test_missing_repositories_are_created_and_existing_ones_left_alone():
    actions = repository_actions(
        ["agent-saas/api", "agent-saas/web"],
        {"agent-saas/api": observed(scan_on_push=False), "agent-saas/web": None},
        SETTINGS,
    )
    assert actions == [
        RepositoryAction(
            "agent-saas/api",
            "exists",
            ("scan on push is off, expected on",),
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/agent-saas/api",
        ),
        RepositoryAction("agent-saas/web", "create"),
    ]


@pytest.mark.parametrize(
    ("header", "scheme", "params"),
    [
        (
            'Bearer realm="https://ghcr.io/token",service="ghcr.io",'
            'scope="repository:acme/shop/api:pull"',
            "bearer",
            {
                "realm": "https://ghcr.io/token",
                "service": "ghcr.io",
                "scope": "repository:acme/shop/api:pull",
            },
        ),
        ('Basic realm="Registry Realm"', "basic", {"realm": "Registry Realm"}),
        (
            "bearer realm=https://auth.example.com/token, service=reg",
            "bearer",
            {"realm": "https://auth.example.com/token", "service": "reg"},
        ),
        (
            'Bearer realm="https://a/t",scope="repository:x:pull,push"',
            "bearer",
            {"realm": "https://a/t", "scope": "repository:x:pull,push"},
        ),
    ],
)
def test_challenges_are_parsed(header, scheme, params):
    assert parse_challenge(header) == (scheme, params)


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("localhost:5000", True),
        ("127.0.0.1:41234", True),
        ("127.0.0.1", True),
        ("[::1]:5000", True),
        ("ghcr.io", False),
        ("registry.example.com:5000", False),
        ("127.example.com", False),
        ("localhost:x@192.0.2.2", False),  # the host is what follows the '@'
        ("192.0.2.2:80@127.0.0.1", True),
    ],
)
def test_loopback_hosts(host, expected):
    assert is_loopback(host) is expected


def test_api_locations():
    assert api_location("ghcr.io", "acme/api") == ("https://ghcr.io", "acme/api")
    assert api_location("127.0.0.1:5000", "a") == ("http://127.0.0.1:5000", "a")
    assert api_location("docker.io", "nginx") == ("https://registry-1.docker.io", "library/nginx")
    assert api_location("docker.io", "bitnami/redis") == (
        "https://registry-1.docker.io",
        "bitnami/redis",
    )


def test_key_refs():
    assert parse_key_refs(["api=ghcr.io/a/b/api:v1", "web = ghcr.io/a/b/web:v1 "]) == {
        "api": "ghcr.io/a/b/api:v1",
        "web": "ghcr.io/a/b/web:v1",
    }


@pytest.mark.parametrize(
    ("pairs", "reason"),
    [
        (["api"], "is not KEY=REF"),
        (["=ghcr.io/a/b:v1"], "is not KEY=REF"),
        (["api="], "is not KEY=REF"),
        (["api=a:1", "api=b:1"], "given twice"),
        ([], "no images given"),
    ],
)
def test_bad_key_refs_are_refused(pairs, reason):
    with pytest.raises(UsageError, match=reason):
        parse_key_refs(pairs)


def test_credentials_come_from_the_environment_and_are_never_shown():
    assert RegistryCredentials.from_environment({}) is None
    found = RegistryCredentials.from_environment(
        {"SHIPLINE_REGISTRY_PASSWORD": "s3cret-token", "GITHUB_ACTOR": "octocat"}
    )
    assert found == RegistryCredentials("ghcr.io", "octocat", "s3cret-token")
    assert "s3cret-token" not in repr(found)
    explicit = RegistryCredentials.from_environment(
        {
            "SHIPLINE_REGISTRY": "Registry.Example.com:5000",
            "SHIPLINE_REGISTRY_PASSWORD": "p",
            "SHIPLINE_REGISTRY_USERNAME": "bot",
            "GITHUB_ACTOR": "octocat",
        }
    )
    assert (explicit.registry, explicit.username) == ("registry.example.com:5000", "bot")
    with pytest.raises(UsageError, match="no user name"):
        RegistryCredentials.from_environment({"SHIPLINE_REGISTRY_PASSWORD": "p"})
    with pytest.raises(UsageError, match=r"SHIPLINE_REGISTRY: registry 'https://x\.io'"):
        RegistryCredentials.from_environment(
            {
                "SHIPLINE_REGISTRY": "https://x.io",
                "SHIPLINE_REGISTRY_PASSWORD": "p",
                "GITHUB_ACTOR": "a",
            }
        )


@pytest.mark.parametrize(
    ("registry", "host", "expected"),
    [
        ("ghcr.io", "ghcr.io", True),
        ("ghcr.io", "GHCR.io", True),
        ("ghcr.io", "registry.example.com", False),
        ("registry.example.com:5000", "registry.example.com", False),  # another port
        ("docker.io", "index.docker.io", True),
    ],
)
def test_credentials_are_for_one_registry(registry, host, expected):
    credentials = RegistryCredentials.from_environment(
        {"SHIPLINE_REGISTRY": registry, "SHIPLINE_REGISTRY_PASSWORD": "p", "GITHUB_ACTOR": "a"}
    )
    assert credentials.are_for(host) is expected


def test_token_services_that_may_get_credentials():
    # GHCR's realm is https://ghcr.io/token; Docker Hub's is https://auth.docker.io/token.
    assert "ghcr.io" in token_service_hosts("ghcr.io")
    assert token_service_hosts("docker.io") == {"registry-1.docker.io", "auth.docker.io"}
    assert "gitlab.com" in token_service_hosts("registry.gitlab.com")
    assert token_service_hosts("127.0.0.1:5000") == {"127.0.0.1"}
    assert "auth.docker.io" not in token_service_hosts("ghcr.io")


@pytest.mark.parametrize(
    ("realm", "hostname"),
    [
        ("https://ghcr.io/token", "ghcr.io"),
        ("https://auth.docker.io/token", "auth.docker.io"),
        ("http://127.0.0.1:5001/token", "127.0.0.1"),
        ("http://localhost/token", "localhost"),
        ("http://[::1]:5001/token", "::1"),
    ],
)
def test_token_realms_that_may_be_called(realm, hostname):
    assert token_realm(realm, "r.example.com").hostname == hostname


@pytest.mark.parametrize(
    ("realm", "reason"),
    [
        ("http://localhost:x@192.0.2.2/token", "user name or password"),
        ("https://user@ghcr.io/token", "user name or password"),
        ("http://192.0.2.2/token", "not HTTPS"),
        ("http://registry.example.com/token", "not HTTPS"),
        ("ftp://ghcr.io/token", "not an http\\(s\\) URL"),
        ("https:///token", "not an http\\(s\\) URL"),
        ("https://ghcr.io:port/token", "not an http\\(s\\) URL"),
        ("https://gh_cr.io/token", "not an http\\(s\\) URL"),
        ("/token", "not an http\\(s\\) URL"),
    ],
)
def test_token_realms_refused_before_anything_is_sent(realm, reason):
    with pytest.raises(UsageError, match=reason) as refused:
        token_realm(realm, "r.example.com")
    assert "\n" not in refused.value.message


@pytest.mark.parametrize(
    "text",
    [
        "sha256:abc",
        "latest::add-mask::x",
        "sha256:" + "A" * 64,
        "sha512:" + "a" * 128,
        "sha256:" + "a" * 64 + "\n",
        " sha256:" + "a" * 64,
    ],
)
def test_only_sha256_digests_are_accepted(text):
    with pytest.raises(UsageError, match="not a sha256 digest") as refused:
        checked_digest(text, "r.example.com/a:v1", "r.example.com")
    assert text.strip() not in refused.value.message


def test_a_sha256_digest_is_accepted():
    digest = "sha256:" + "0123456789abcdef" * 4
    assert checked_digest(digest, "r.example.com/a:v1", "r.example.com") == digest


def test_reuse_plan_picks_the_commit_tag_and_the_tags_to_add():
    tags = (
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/agent-saas/api:1.4.0\n"
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/agent-saas/api:sha-1a2b3c4\n"
    )
    assert reuse_plan(tags) == (
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/agent-saas/api:sha-1a2b3c4",
        ["1.4.0"],
    )
    assert reuse_plan("ghcr.io/a/b/api:sha-1a2b3c4\n\n") == ("ghcr.io/a/b/api:sha-1a2b3c4", [])
    assert reuse_plan("ghcr.io/a/b/api:1.0.0") == (None, ["1.0.0"])
    assert reuse_plan("") == (None, [])


@pytest.mark.parametrize(
    ("tags", "reason"),
    [
        ("ghcr.io/a/api:sha-1\nghcr.io/a/web:1.0", "several repositories"),
        ("ghcr.io/a/api:sha-1\nghcr.io/a/api:sha-2", "two commits"),
        ("ghcr.io/a/api", "must be repository:tag"),
        ("ghcr.io/a/API:1.0", "malformed image reference"),
    ],
)
def test_reuse_plan_refuses_odd_tags(tags, reason):
    with pytest.raises(UsageError, match=reason):
        reuse_plan(tags)


def test_a_tag_may_stay_on_its_image_but_never_move():
    assert tag_conflict("r:1.0", "sha256:aa", "sha256:aa") is None
    assert tag_conflict("r:1.0", "sha256:aa", "sha256:bb") == (
        "r:1.0 already names sha256:aa, not sha256:bb; ECR tags are immutable "
        "(delete that image or push under another tag)"
    )
