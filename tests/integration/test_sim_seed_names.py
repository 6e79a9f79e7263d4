"""The sandbox seed creates the names it is given (real infrastructure's names), and only whole
sets of them."""

from __future__ import annotations

import pytest

from shipline.errors import ShiplineError
from shipline.sim.seed import seed_environment

NAMES = {"api": "shop-live-api", "web": "shop-live-site", "worker": "shop-live-retries"}


def test_the_seed_creates_the_cluster_services_and_bucket_it_is_given(sandbox):
    seeded = seed_environment(
        sandbox.url,
        region=sandbox.region,
        name="shop",
        cluster="shop-live",
        service_names=NAMES,
        history_bucket="shop-live-history",
        desired_count=1,
    )
    assert (seeded.cluster, seeded.services, seeded.history_bucket) == (
        "shop-live",
        NAMES,
        "shop-live-history",
    )
    described = sandbox.client("ecs").describe_services(
        cluster="shop-live", services=list(NAMES.values())
    )["services"]
    assert sorted(s["serviceName"] for s in described) == sorted(NAMES.values())
    assert all(s["status"] == "ACTIVE" and s["runningCount"] == 1 for s in described)
    sandbox.client("s3").head_bucket(Bucket="shop-live-history")


def test_a_partial_set_of_service_names_is_refused_before_anything_is_made(sandbox):
    with pytest.raises(ShiplineError, match="service_names must name exactly api, web, worker"):
        seed_environment(sandbox.url, region=sandbox.region, service_names={"api": "a"})
    assert sandbox.client("ecs").list_clusters()["clusterArns"] == []
