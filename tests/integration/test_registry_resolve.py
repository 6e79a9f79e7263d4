"""`shipline images resolve` against a real distribution registry: open, basic auth, bearer."""

from __future__ import annotations

import json

import pytest
import requests

from shipline.cli import main
from support.registry_fixtures import (
    REGISTRY_PASSWORD,
    REGISTRY_USER,
    PushedImage,
    TokenServer,
    htpasswd_file,
    push_image,
    push_index,
    require_binary,
    start_registry,
    use_credentials,
)


def resolve(capsys, *refs: str) -> tuple[int, dict | None, str]:
    code = main(["images", "resolve", "--json", *refs])
    captured = capsys.readouterr()
    return code, json.loads(captured.out) if captured.out.strip() else None, captured.err


@pytest.fixture(scope="module")
def open_registry(tmp_path_factory):
    with start_registry(tmp_path_factory.mktemp("open-registry")) as registry:
        session = requests.Session()
        api = push_image(session, registry.url, "acme/shop/api", "v1.0.0", "api v1")
        push_image(session, registry.url, "acme/shop/api", "v1.1.0", "api v1.1")
        web = push_image(session, registry.url, "acme/shop/web", "sha-abc1234", "web")
        index = push_index(session, registry.url, "acme/shop/web", "v2.0.0", web)
        yield registry, {"api": api, "web": web, "index": index}


@pytest.fixture(scope="module")
def basic_registry(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("basic-registry")
    path = htpasswd_file(workdir / "htpasswd", REGISTRY_USER, REGISTRY_PASSWORD)
    auth = {"htpasswd": {"realm": "shipline-test", "path": str(path)}}
    with start_registry(workdir, auth) as registry:
        session = requests.Session()
        session.auth = (REGISTRY_USER, REGISTRY_PASSWORD)
        yield registry, push_image(session, registry.url, "acme/private/api", "v3", "private")


@pytest.fixture(scope="module")
def token_registry(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("token-registry")
    tokens = TokenServer(REGISTRY_USER, REGISTRY_PASSWORD, workdir / "token-cert.pem")
    with tokens.serving(), start_registry(workdir, tokens.registry_auth()) as registry:
        session = requests.Session()
        token = tokens.token("repository:owner/repo/api:pull,push")
        session.headers["Authorization"] = f"Bearer {token}"
        pushed = push_image(session, registry.url, "owner/repo/api", "sha-0f1e2d3", "ghcr-like")
        yield registry, tokens, pushed


def test_open_registry_tags_resolve_to_the_pushed_manifest_digests(capsys, open_registry):
    registry, pushed = open_registry
    code, result, err = resolve(
        capsys,
        f"api={registry.host}/acme/shop/api:v1.0.0",
        f"web={registry.host}/acme/shop/web:sha-abc1234",
    )
    assert code == 0, err
    assert result["images"]["api"] == {
        "reference": f"{registry.host}/acme/shop/api:v1.0.0",
        "repository": f"{registry.host}/acme/shop/api",
        "digest": pushed["api"].digest,
        "image": f"{registry.host}/acme/shop/api@{pushed['api'].digest}",
        "kind": "other",
    }
    assert result["images"]["web"]["digest"] == pushed["web"].digest
    assert f"api: {registry.host}/acme/shop/api:v1.0.0 -> " in err


def test_an_index_resolves_to_the_index_digest_not_a_child_manifest(capsys, open_registry):
    registry, pushed = open_registry
    code, result, err = resolve(capsys, f"web={registry.host}/acme/shop/web:v2.0.0")
    assert code == 0, err
    assert result["images"]["web"]["digest"] == pushed["index"].digest
    assert pushed["index"].digest != pushed["web"].digest


def test_a_digest_reference_is_proven_to_exist(capsys, open_registry):
    registry, pushed = open_registry
    digest = pushed["api"].digest
    code, result, _ = resolve(capsys, f"api={registry.host}/acme/shop/api@{digest}")
    assert code == 0
    assert result["images"]["api"]["image"] == f"{registry.host}/acme/shop/api@{digest}"

    unknown = "sha256:" + "0" * 64
    code, result, err = resolve(capsys, f"api={registry.host}/acme/shop/api@{unknown}")
    assert code == 2
    assert result == {"status": "refused", "exit_code": 2, "error": result["error"]}
    assert f"shipline: error: {result['error']}" in err
    assert f"api: {registry.host}/acme/shop/api@{unknown}: no such tag or digest" in err


def test_missing_tags_and_repositories_are_exit_2_naming_each(capsys, open_registry):
    registry, _ = open_registry
    code, result, err = resolve(
        capsys,
        f"api={registry.host}/acme/shop/api:v9.9.9",
        f"web={registry.host}/acme/shop/web:sha-abc1234",
        f"worker={registry.host}/acme/shop/worker:v1.0.0",
    )
    assert code == 2
    assert result == {"status": "refused", "exit_code": 2, "error": result["error"]}
    assert f"shipline: error: {result['error']}" in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("shipline: error: ")
    assert f"api: {registry.host}/acme/shop/api:v9.9.9: no such tag or digest" in err
    assert f"worker: {registry.host}/acme/shop/worker:v1.0.0: no such repository" in err
    assert "web:" not in err


def test_github_outputs_carry_each_key_by_digest(capsys, open_registry, tmp_path, monkeypatch):
    registry, pushed = open_registry
    outputs = tmp_path / "github_output"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_OUTPUT", str(outputs))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "summary.md"))
    code, _, _ = resolve(capsys, f"api_image={registry.host}/acme/shop/api:v1.1.0")
    assert code == 0
    text = outputs.read_text()
    name, delimiter = text.splitlines()[0].split("<<")
    assert name == "api_image"
    value = text.splitlines()[1]
    assert value.startswith(f"{registry.host}/acme/shop/api@sha256:")
    assert value != f"{registry.host}/acme/shop/api@{pushed['api'].digest}"  # v1.1.0, not v1.0.0
    assert text.splitlines()[2] == delimiter
    assert value in (tmp_path / "summary.md").read_text()


def test_basic_auth_registry(capsys, basic_registry, monkeypatch):
    registry, pushed = basic_registry
    ref = f"api={registry.host}/acme/private/api:v3"

    code, _, err = resolve(capsys, ref)
    assert code == 2
    assert "needs credentials" in err and "SHIPLINE_REGISTRY_PASSWORD" in err

    use_credentials(monkeypatch, registry.host, "wrong-password")
    code, _, err = resolve(capsys, ref)
    assert code == 2
    assert "rejected the credentials" in err
    assert "wrong-password" not in err

    monkeypatch.setenv("SHIPLINE_REGISTRY_PASSWORD", REGISTRY_PASSWORD)
    code, result, err = resolve(capsys, ref)
    assert code == 0, err
    assert result["images"]["api"]["digest"] == pushed.digest
    assert REGISTRY_PASSWORD not in err and REGISTRY_PASSWORD not in json.dumps(result)


def test_bearer_token_challenge_flow(capsys, token_registry, monkeypatch):
    registry, tokens, pushed = token_registry
    use_credentials(monkeypatch, registry.host)
    tokens.requests_seen.clear()
    code, result, err = resolve(capsys, f"api={registry.host}/owner/repo/api:sha-0f1e2d3")
    assert code == 0, err
    assert result["images"]["api"]["digest"] == pushed.digest
    # One token, asked for with the challenge's service and a pull scope, with the credentials.
    assert tokens.requests_seen == [
        {
            "path": "/token",
            "query": {
                "service": "shipline-test-registry",
                "scope": "repository:owner/repo/api:pull",
            },
            "authorized": True,
        }
    ]
    assert REGISTRY_PASSWORD not in err


def test_bearer_token_refusals_are_exit_2(capsys, token_registry, monkeypatch):
    registry, _, _ = token_registry
    ref = f"api={registry.host}/owner/repo/api:sha-0f1e2d3"
    code, _, err = resolve(capsys, ref)
    assert code == 2
    assert "needs credentials for owner/repo/api" in err

    use_credentials(monkeypatch, registry.host, "not-the-token")
    code, _, err = resolve(capsys, ref)
    assert code == 2
    assert "rejected the credentials" in err
    assert "not-the-token" not in err


def test_bearer_token_missing_tag(capsys, token_registry, monkeypatch):
    registry, _, _ = token_registry
    use_credentials(monkeypatch, registry.host)
    code, _, err = resolve(capsys, f"api={registry.host}/owner/repo/api:sha-missing")
    assert code == 2
    assert f"api: {registry.host}/owner/repo/api:sha-missing: no such tag or digest" in err


def test_pushed_fixture_matches_what_the_registry_serves(open_registry):
    # The digest the tests compare with is the registry's own: GET the manifest by it.
    registry, pushed = open_registry
    image: PushedImage = pushed["api"]
    answer = requests.get(
        f"{registry.url}/v2/acme/shop/api/manifests/{image.digest}",
        headers={"Accept": image.media_type},
        timeout=5,
    )
    assert answer.status_code == 200
    assert answer.content == image.manifest


def test_a_missing_binary_fails_the_test_naming_the_package():
    with pytest.raises(pytest.fail.Exception, match="apt-get install no-such-package"):
        require_binary("no-such-binary-for-shipline", "no-such-package")
