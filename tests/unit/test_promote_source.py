"""`shipline promote`'s pure decisions: which release, and which reference the target runs."""

from __future__ import annotations

import pytest

from shipline import schemas
from shipline.errors import EXIT_REFUSED, UsageError
from shipline.release.promote import promoted_images, promotion_source, target_reference
from shipline.release.records import ReleaseRecord, ServiceRecord
from support.release_ids import Clock

DIGEST = "sha256:" + "ab" * 32
STAGING = "111111111111.dkr.ecr.us-east-1.amazonaws.com/agent-saas"
PRODUCTION = "222222222222.dkr.ecr.eu-west-1.amazonaws.com/shop"


def td(key: str, revision: int) -> str:
    return f"arn:aws:ecs:us-east-1:111111111111:task-definition/app-{key}:{revision}"


def deploy(clock: Clock, revision: int, status: str = "succeeded", **images: str) -> ReleaseRecord:
    record = ReleaseRecord(
        release_id=clock.next_id(),
        environment="staging",
        images=images or {"api": f"{STAGING}/api:v{revision}@{DIGEST}"},
        services={
            "api": ServiceRecord(
                service="app-api",
                task_definition=td("api", revision),
                previous_task_definition=td("api", revision - 1),
                desired_count=2,
            )
        },
    )
    record.finish(status)  # type: ignore[arg-type]
    return record


def rollback(clock: Clock, target: ReleaseRecord) -> ReleaseRecord:
    record = ReleaseRecord(
        release_id=clock.next_id(),
        environment="staging",
        kind="rollback",
        rolled_back_to=target.release_id,
        images=dict(target.images),
        services=dict(target.services),
    )
    record.finish("succeeded")
    return record


# --- which release ---------------------------------------------------------------------------


def test_by_default_the_live_release_is_promoted_as_replayed_after_a_rollback():
    clock = Clock()
    r1, r2 = deploy(clock, 1), deploy(clock, 2)
    assert promotion_source([r2, r1], None) == r2
    back = rollback(clock, r1)
    # After the rollback to r1, r1 runs in staging again: that is what is promoted.
    assert promotion_source([r1, r2, back], None) == r1


def test_failed_releases_are_never_the_default():
    clock = Clock()
    good = deploy(clock, 1)
    failed = deploy(clock, 2, "failed")
    rolled = deploy(clock, 3, "rolled_back")
    assert promotion_source([good, failed, rolled], None) == good


def test_a_release_named_that_succeeded_is_promoted_even_when_no_longer_live():
    clock = Clock()
    r1, r2 = deploy(clock, 1), deploy(clock, 2)
    assert promotion_source([r1, r2], r1.release_id) == r1


@pytest.mark.parametrize(
    ("status", "message"),
    [
        ("failed", "ended failed: only a release that succeeded"),
        ("rolled_back", "ended rolled_back"),
        ("interrupted", "ended interrupted"),
        ("in_progress", "ended in_progress"),
    ],
)
def test_a_named_release_that_did_not_succeed_is_refused(status, message):
    clock = Clock()
    good = deploy(clock, 1)
    other = deploy(clock, 2, "succeeded")
    other.status = status  # type: ignore[assignment]
    with pytest.raises(UsageError, match=message) as caught:
        promotion_source([good, other], other.release_id)
    assert caught.value.exit_code == EXIT_REFUSED


def test_a_release_rolled_back_since_is_refused():
    clock = Clock()
    r1, r2 = deploy(clock, 1), deploy(clock, 2)
    back = rollback(clock, r1)
    with pytest.raises(UsageError, match=f"{r2.release_id} was rolled back since") as caught:
        promotion_source([r1, r2, back], r2.release_id)
    assert f"the live release is {r1.release_id}" in caught.value.message


def test_a_release_of_another_kind_is_refused():
    clock = Clock()
    r1, _r2 = deploy(clock, 1), deploy(clock, 2)
    back = rollback(clock, r1)
    with pytest.raises(UsageError, match="is a rollback, not a deploy") as caught:
        promotion_source([r1, _r2, back], back.release_id)
    assert f"it returned to {r1.release_id}" in caught.value.message


def test_an_unknown_release_and_an_empty_history_are_refused():
    clock = Clock()
    with pytest.raises(UsageError, match="nothing to promote: no release has succeeded"):
        promotion_source([deploy(clock, 1, "failed")], None)
    with pytest.raises(UsageError, match="no release 20990101T000000Z-000000"):
        promotion_source([deploy(clock, 2)], "20990101T000000Z-000000")


def test_a_deploy_that_moved_no_service_is_refused():
    clock = Clock()
    empty = deploy(clock, 1)
    empty.services = {}
    with pytest.raises(UsageError, match="moved no service"):
        promotion_source([empty], empty.release_id)


# --- which reference the target runs ----------------------------------------------------------


def test_without_a_registry_the_target_pulls_the_same_reference():
    source = f"{STAGING}/api:v2@{DIGEST}"
    assert target_reference(source, None) == (source, DIGEST)


def test_a_registry_maps_the_repository_name_and_keeps_the_digest():
    source = f"{STAGING}/api:v2@{DIGEST}"
    assert target_reference(source, PRODUCTION) == (f"{PRODUCTION}/api@{DIGEST}", DIGEST)
    # GHCR to ECR: the same rule (the last path component names the image).
    ghcr = f"ghcr.io/acme/shop/web@{DIGEST}"
    assert target_reference(ghcr, f"{PRODUCTION}/") == (f"{PRODUCTION}/web@{DIGEST}", DIGEST)
    # A registry without a prefix.
    assert target_reference(ghcr, "registry.example.com:5000")[0] == (
        f"registry.example.com:5000/web@{DIGEST}"
    )


def test_a_registry_the_source_already_lives_in_changes_nothing():
    source = f"{STAGING}/api:v2@{DIGEST}"
    assert target_reference(source, STAGING) == (source, DIGEST)


def test_an_image_not_pinned_by_digest_is_refused():
    with pytest.raises(UsageError, match="not pinned by digest") as caught:
        target_reference(f"{STAGING}/api:v2", None)
    assert caught.value.exit_code == EXIT_REFUSED


def test_every_unpinned_image_of_a_release_is_named_at_once():
    clock = Clock()
    record = deploy(clock, 1, api=f"{STAGING}/api:v1", web=f"{STAGING}/web:v1")
    with pytest.raises(UsageError, match=r"cannot be promoted: api: .*; web: "):
        promoted_images(record, None)


def test_promoted_images_say_which_need_a_copy():
    clock = Clock()
    record = deploy(clock, 1, api=f"{STAGING}/api:v1@{DIGEST}", web=f"{STAGING}/web:v1@{DIGEST}")
    same = promoted_images(record, None)
    assert [image.needs_copy for image in same.values()] == [False, False]
    other = promoted_images(record, PRODUCTION)
    assert {key: image.target for key, image in other.items()} == {
        "api": f"{PRODUCTION}/api@{DIGEST}",
        "web": f"{PRODUCTION}/web@{DIGEST}",
    }
    assert all(image.needs_copy for image in other.values())


# --- the record and the config --------------------------------------------------------------


def test_promoted_from_is_kept_in_the_record_and_fits_the_schema():
    clock = Clock()
    record = deploy(clock, 1)
    record.environment = "production"
    record.promoted_from = {"environment": "staging", "release_id": clock.next_id()}
    document = record.to_dict()
    assert schemas.problems("release-record", document) == []
    assert ReleaseRecord.from_dict(document).promoted_from == record.promoted_from
    document["promoted_from"] = {"environment": "staging", "release_id": "latest"}
    assert schemas.problems("release-record", document) != []
    # Without it, the stored form has no such key (optional extras are left out).
    assert "promoted_from" not in deploy(clock, 2).to_dict()
