"""`shipline promote` against the sandbox: staging and production seeded side by side, one
shipline.yml naming both, every path over HTTP."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from shipline import schemas
from shipline.config import Environment, load_config
from shipline.sim.seed import (
    ACCOUNT_ID,
    SeededEnvironment,
    image_digest,
    image_manifest,
    seed_environment,
)
from support.deploy_support import Ran, image_of, revision_count, run_cli, running_task_definitions
from support.registry_fixtures import OCI_MANIFEST, htpasswd_file, push_image, start_registry
from support.registry_proxy import CountingProxy, Forwarded
from support.sim_sandbox import DEFAULT_POLICY

# Production's own repositories: in another account they would be on another host; the
# sandbox's ECR has one account, so another path of it stands for them (the same rule maps both).
OTHER_REGISTRY = f"{ACCOUNT_ID}.dkr.ecr.us-east-1.amazonaws.com/prod"


@dataclass
class Pair:
    config: Path
    staging: SeededEnvironment
    production: SeededEnvironment

    def environment(self, name: str) -> Environment:
        return load_config(self.config).environment(name)


def write(path: Path, staging: SeededEnvironment, production: SeededEnvironment, **prod: Any):
    document = staging.shipline_config("staging")
    document["environments"] |= production.shipline_config("production")["environments"]
    document["promotion"] = ["staging", "production"]
    for settings in document["environments"].values():
        settings["health"]["timeout"] = 3  # a failing health check gives up after 3 s
    document["environments"]["production"] |= prod
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


@pytest.fixture
def pair(sandbox, environment, tmp_path) -> Pair:
    production = seed_environment(sandbox.url, region=sandbox.region, name="agent-saas-prod")
    return Pair(write(tmp_path / "shipline.yml", environment, production), environment, production)


def shipline(capsys, pair: Pair, *argv: str) -> Ran:
    return run_cli(capsys, *argv, "--config", str(pair.config))


def deploy_staging(capsys, pair: Pair, tag: str) -> Ran:
    images = [f"{key}={pair.staging.image(key, tag)}" for key in ("api", "web")]
    arguments = [part for image in images for part in ("--image", image)]
    return shipline(capsys, pair, "deploy", "-e", "staging", *arguments)


def promote(capsys, pair: Pair, *argv: str) -> Ran:
    return shipline(capsys, pair, "promote", "--from", "staging", "--to", "production", *argv)


def unhealthy(sandbox: Any, service: str, image: str) -> None:
    """The sandbox's default policy, with `service` unhealthy on an image containing `image`."""
    services = {**DEFAULT_POLICY["services"], service: {"unhealthy": image}}
    sandbox.policy({**DEFAULT_POLICY, "services": services})


def records(s3: Any, seeded: SeededEnvironment, name: str) -> list[dict[str, Any]]:
    """Every release record of `name`, oldest first, each checked against the schema."""
    prefix = f"releases/{name}/"
    listed = s3.list_objects_v2(Bucket=seeded.history_bucket, Prefix=prefix)
    found = []
    for entry in sorted(listed.get("Contents", []), key=lambda item: item["Key"]):
        if entry["Key"].endswith("/lock.json"):
            continue
        body = s3.get_object(Bucket=seeded.history_bucket, Key=entry["Key"])["Body"].read()
        document = json.loads(body)
        assert schemas.problems("release-record", document) == [], entry["Key"]
        found.append(document)
    return found


def untouched(pair: Pair, ecs: Any, s3: Any) -> tuple[Any, ...]:
    """What a refusal must leave as it was in production: services, revisions, records."""
    production = pair.production
    return (
        running_task_definitions(production, ecs),
        revision_count(production, ecs),
        records(s3, production, "production"),
    )


def test_a_succeeded_staging_release_is_promoted_with_the_same_digests(
    capsys, sandbox, pair, ecs, s3
):
    staged = deploy_staging(capsys, pair, "v2")
    assert staged.code == 0, staged.err
    [source] = records(s3, pair.staging, "staging")
    before = running_task_definitions(pair.production, ecs)

    ran = promote(capsys, pair, "--json")

    assert ran.code == 0, ran.err
    [record] = records(s3, pair.production, "production")
    assert (record["kind"], record["status"]) == ("deploy", "succeeded")
    assert record["promoted_from"] == {"environment": "staging", "release_id": source["release_id"]}
    assert record["images"] == source["images"]  # the very digests staging ran
    after = running_task_definitions(pair.production, ecs)
    assert all(after[key] != before[key] for key in after)
    assert image_of(ecs, after["api"], "api") == source["images"]["api"]
    assert image_of(ecs, after["web"], "web") == source["images"]["web"]
    assert "@sha256:" in source["images"]["api"]
    assert record["migrate"]["exit_code"] == 0  # the normal deploy: migration, health
    assert {h["service"]: h["ok"] for h in record["health"]} == {"api": True, "web": True}
    assert ran.json()["promoted_from"]["release_id"] == source["release_id"]

    history = shipline(capsys, pair, "history", "-e", "production")
    assert f"promoted from staging {source['release_id']}" in history.out


def test_a_release_that_did_not_succeed_is_refused_and_production_is_untouched(
    capsys, sandbox, pair, ecs, s3
):
    assert deploy_staging(capsys, pair, "v2").code == 0
    unhealthy(sandbox, "agent-saas-sim-web", "web:v3")
    assert deploy_staging(capsys, pair, "v3").code == 1  # unhealthy: rolled back
    failed = records(s3, pair.staging, "staging")[-1]
    assert failed["status"] == "rolled_back"
    before = untouched(pair, ecs, s3)

    ran = promote(capsys, pair, "--release", failed["release_id"])

    assert ran.code == 2
    assert f"release {failed['release_id']} ended rolled_back" in ran.err
    assert untouched(pair, ecs, s3) == before
    assert before[2] == []  # no record, not even a refused one


def test_a_release_rolled_back_since_is_refused_and_the_default_is_the_live_one(
    capsys, sandbox, pair, ecs, s3
):
    assert deploy_staging(capsys, pair, "v2").code == 0
    assert deploy_staging(capsys, pair, "v3").code == 0
    v2, v3 = records(s3, pair.staging, "staging")
    assert shipline(capsys, pair, "rollback", "-e", "staging").code == 0
    before = untouched(pair, ecs, s3)

    ran = promote(capsys, pair, "--release", v3["release_id"])

    assert ran.code == 2
    assert f"release {v3['release_id']} was rolled back since" in ran.err
    assert untouched(pair, ecs, s3) == before
    # Without --release: what staging runs now, v2.
    assert promote(capsys, pair).code == 0
    [record] = records(s3, pair.production, "production")
    assert record["promoted_from"]["release_id"] == v2["release_id"]
    assert record["images"] == v2["images"]


def test_a_locked_target_is_refused(capsys, sandbox, pair, ecs, s3):
    assert deploy_staging(capsys, pair, "v2").code == 0
    held = shipline(capsys, pair, "lock", "acquire", "-e", "production")
    assert held.code == 0, held.err
    before = untouched(pair, ecs, s3)

    ran = promote(capsys, pair)

    assert ran.code == 2
    assert "locked" in ran.err and held.out.strip() in ran.err
    assert untouched(pair, ecs, s3) == before


def test_a_promoted_release_that_fails_health_rolls_production_back_and_leaves_staging(
    capsys, sandbox, pair, ecs, s3
):
    assert deploy_staging(capsys, pair, "v2").code == 0
    staging_before = (
        running_task_definitions(pair.staging, ecs),
        records(s3, pair.staging, "staging"),
    )
    production_before = running_task_definitions(pair.production, ecs)
    # The same image is healthy in staging and not in production (its config, its data).
    unhealthy(sandbox, "agent-saas-prod-web", "web:v2")

    ran = promote(capsys, pair)

    assert ran.code == 1, ran.err
    [record] = records(s3, pair.production, "production")
    assert record["status"] == "rolled_back"
    assert record["promoted_from"]["release_id"] == staging_before[1][0]["release_id"]
    assert running_task_definitions(pair.production, ecs) == production_before
    assert (
        running_task_definitions(pair.staging, ecs),
        records(s3, pair.staging, "staging"),
    ) == staging_before


def test_an_image_already_in_the_targets_repository_runs_from_there_without_a_copy(
    capsys, sandbox, pair, ecs, s3
):
    write(pair.config, pair.staging, pair.production, registry=OTHER_REGISTRY)
    assert deploy_staging(capsys, pair, "v2").code == 0
    [source] = records(s3, pair.staging, "staging")
    digest = source["images"]["api"].split("@")[1]
    # The same manifest in production's repositories (as a copy leaves it).
    ecr = sandbox.client("ecr")
    for key in ("api", "web"):
        ecr.create_repository(repositoryName=f"prod/{key}")
        ecr.put_image(
            repositoryName=f"prod/{key}",
            imageManifest=image_manifest(pair.staging.reference(key, "v2")),
            imageManifestMediaType="application/vnd.oci.image.manifest.v1+json",
            imageDigest=image_digest(pair.staging.reference(key, "v2")),
        )

    promoted = promote(capsys, pair)

    assert promoted.code == 0, promoted.err
    assert "copying" not in promoted.err
    [record] = records(s3, pair.production, "production")
    after = running_task_definitions(pair.production, ecs)
    assert image_of(ecs, after["api"], "api") == f"{OTHER_REGISTRY}/api@{digest}"
    assert record["images"]["api"] == f"{OTHER_REGISTRY}/api@{digest}"


def test_a_digest_gone_from_the_registry_is_refused(capsys, sandbox, pair, ecs, s3):
    assert deploy_staging(capsys, pair, "v2").code == 0
    [source] = records(s3, pair.staging, "staging")
    digest = source["images"]["web"].split("@")[1]
    # A lifecycle rule expired it after staging started (its tasks still run the pulled copy).
    sandbox.client("ecr").batch_delete_image(
        repositoryName="agent-saas/web", imageIds=[{"imageDigest": digest}]
    )
    before = untouched(pair, ecs, s3)

    ran = promote(capsys, pair)

    assert ran.code == 2
    assert f"agent-saas/web@{digest}: no such image in ECR" in ran.err
    assert untouched(pair, ecs, s3) == before


# --- across registries: the image is copied by digest first (two real registries) -----------


@pytest.fixture
def registries(tmp_path):
    """Staging's registry and production's, each a real distribution registry on loopback."""
    with (
        start_registry(tmp_path / "staging-registry") as staging,
        start_registry(tmp_path / "production-registry") as production,
    ):
        yield staging, production


def manifest_in(registry: Any, repository: str, digest: str) -> bytes | None:
    answer = requests.get(
        f"{registry.url}/v2/{repository}/manifests/{digest}",
        headers={"Accept": OCI_MANIFEST},
        timeout=10,
    )
    if answer.status_code == 404:
        return None
    assert answer.status_code == 200, answer.text
    assert answer.headers["Docker-Content-Digest"] == digest
    return answer.content


def test_a_target_on_another_registry_gets_the_images_copied_by_digest_then_deployed(
    capsys, sandbox, pair, ecs, s3, registries, monkeypatch
):
    for name in ("SHIPLINE_REGISTRY", "SHIPLINE_REGISTRY_USERNAME", "SHIPLINE_REGISTRY_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    staging_registry, production_registry = registries
    session = requests.Session()
    pushed = {
        key: push_image(session, staging_registry.url, f"acme/shop/{key}", "v2", f"{key} v2")
        for key in ("api", "web")
    }
    target_registry = f"{production_registry.host}/prod"
    write(pair.config, pair.staging, pair.production, registry=target_registry)
    images = [f"{key}={staging_registry.host}/acme/shop/{key}:v2" for key in ("api", "web")]
    arguments = [part for image in images for part in ("--image", image)]
    staged = shipline(capsys, pair, "deploy", "-e", "staging", *arguments)
    assert staged.code == 0, staged.err
    [source] = records(s3, pair.staging, "staging")
    assert manifest_in(production_registry, "prod/api", pushed["api"].digest) is None

    ran = promote(capsys, pair)

    assert ran.code == 0, ran.err
    [record] = records(s3, pair.production, "production")
    after = running_task_definitions(pair.production, ecs)
    for key, image in pushed.items():
        # The very manifest staging ran, now in production's registry under the same digest.
        assert manifest_in(production_registry, f"prod/{key}", image.digest) == image.manifest
        wanted = f"{target_registry}/{key}@{image.digest}"
        assert record["images"][key] == wanted
        assert source["images"][key].endswith(f"@{image.digest}")
        assert image_of(ecs, after[key], key) == wanted
    assert record["promoted_from"]["release_id"] == source["release_id"]
    assert "copied" in ran.err

    # Promoted again: everything is there already, nothing is sent twice.
    again = promote(capsys, pair)
    assert again.code == 0, again.err
    assert "copied" not in again.err


def test_a_target_registry_that_cannot_be_asked_is_a_refusal_that_changes_nothing(
    capsys, sandbox, pair, ecs, s3, tmp_path, monkeypatch
):
    for name in ("SHIPLINE_REGISTRY", "SHIPLINE_REGISTRY_USERNAME", "SHIPLINE_REGISTRY_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    password = htpasswd_file(tmp_path / "htpasswd", "ci-bot", "correct-horse-battery")
    auth = {"htpasswd": {"realm": "shipline-test", "path": str(password)}}
    with (
        start_registry(tmp_path / "staging-registry") as staging_registry,
        start_registry(tmp_path / "production-registry", auth) as production_registry,
    ):
        session = requests.Session()
        for key in ("api", "web"):
            push_image(session, staging_registry.url, f"acme/shop/{key}", "v2", f"{key} v2")
        write(pair.config, pair.staging, pair.production, registry=production_registry.host)
        images = [f"{key}={staging_registry.host}/acme/shop/{key}:v2" for key in ("api", "web")]
        arguments = [part for image in images for part in ("--image", image)]
        assert shipline(capsys, pair, "deploy", "-e", "staging", *arguments).code == 0
        before = untouched(pair, ecs, s3)

        ran = promote(capsys, pair)  # no credentials for production's registry

    assert ran.code == 2
    wanted = f"could not check that the target can pull {production_registry.host}/api@sha256:"
    assert wanted in ran.err and "needs credentials" in ran.err
    assert untouched(pair, ecs, s3) == before


def test_a_copy_that_fails_part_way_is_a_refusal_that_changes_nothing(
    capsys, sandbox, pair, ecs, s3, registries, monkeypatch
):
    for name in ("SHIPLINE_REGISTRY", "SHIPLINE_REGISTRY_USERNAME", "SHIPLINE_REGISTRY_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    staging_registry, production_registry = registries

    def manifest_push(request: Forwarded, seen: list[Forwarded]) -> bool:
        return request.method == "PUT" and "/manifests/" in request.path

    session = requests.Session()
    for key in ("api", "web"):
        push_image(session, staging_registry.url, f"acme/shop/{key}", "v2", f"{key} v2")
    images = [f"{key}={staging_registry.host}/acme/shop/{key}:v2" for key in ("api", "web")]
    arguments = [part for image in images for part in ("--image", image)]
    assert shipline(capsys, pair, "deploy", "-e", "staging", *arguments).code == 0
    with CountingProxy(production_registry.url, drop=manifest_push).serving() as proxy:
        write(pair.config, pair.staging, pair.production, registry=proxy.host)
        before = untouched(pair, ecs, s3)

        ran = promote(capsys, pair)

    assert ran.code == 2
    assert f"the target cannot pull {proxy.host}/api@sha256:" in ran.err
    assert "interrupted" in ran.err and "run it again to resume" in ran.err
    assert untouched(pair, ecs, s3) == before
