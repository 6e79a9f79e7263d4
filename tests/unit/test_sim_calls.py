"""Naming the AWS calls the sandbox counts (no server)."""

from __future__ import annotations

import pytest

from shipline.sim.calls import CallCounter, call_name


def auth(service: str) -> dict[str, str]:
    return {
        "authorization": (
            f"AWS4-HMAC-SHA256 Credential=testing/20261126/us-east-1/{service}/aws4_request, "
            "SignedHeaders=host;x-amz-date, Signature=abc"
        )
    }


def test_json_protocol_operation_comes_from_the_target_header():
    headers = {**auth("ecs"), "x-amz-target": "AmazonEC2ContainerServiceV20141113.DescribeServices"}
    assert call_name("POST", "/", "", headers) == "ecs.DescribeServices"
    headers = {**auth("logs"), "x-amz-target": "Logs_20140328.GetLogEvents"}
    assert call_name("POST", "/", "", headers) == "logs.GetLogEvents"


def test_query_protocol_operation_comes_from_the_action_parameter():
    form = {"Action": ["DescribeTargetHealth"], "Version": ["2015-12-01"]}
    assert (
        call_name("POST", "/", "", auth("elasticloadbalancing"), form)
        == "elasticloadbalancing.DescribeTargetHealth"
    )
    assert (
        call_name("GET", "/", "Action=DescribeVpcs&Version=2016-11-15", auth("ec2"))
        == "ec2.DescribeVpcs"
    )


@pytest.mark.parametrize(
    ("method", "path", "query", "extra", "expected"),
    [
        ("PUT", "/bucket/releases/sim/1.json", "", {}, "PutObject"),
        (
            "PUT",
            "/bucket/releases/sim/2.json",
            "",
            {"x-amz-copy-source": "/bucket/a"},
            "CopyObject",
        ),
        ("GET", "/bucket/releases/sim/1.json", "", {}, "GetObject"),
        ("HEAD", "/bucket/releases/sim/1.json", "", {}, "HeadObject"),
        ("DELETE", "/bucket/releases/sim/1.json", "", {}, "DeleteObject"),
        ("GET", "/bucket", "list-type=2&prefix=releases%2F", {}, "ListObjectsV2"),
        ("GET", "/bucket/", "prefix=x", {}, "ListObjects"),
        ("GET", "/bucket", "versions=&prefix=x", {}, "ListObjectVersions"),
        ("PUT", "/bucket", "", {}, "CreateBucket"),
        ("HEAD", "/bucket", "", {}, "HeadBucket"),
        ("PUT", "/bucket", "versioning=", {}, "PutBucketVersioning"),
        ("GET", "/bucket", "versioning", {}, "GetBucketVersioning"),
        ("POST", "/bucket", "delete=", {}, "DeleteObjects"),
        ("POST", "/bucket/big", "uploads=", {}, "CreateMultipartUpload"),
        ("PUT", "/bucket/big", "partNumber=1&uploadId=u", {}, "UploadPart"),
        ("POST", "/bucket/big", "uploadId=u", {}, "CompleteMultipartUpload"),
        ("GET", "/bucket/key", "tagging=", {}, "GetObjectTagging"),
        ("GET", "/", "", {}, "ListBuckets"),
    ],
)
def test_s3_rest_operations(method, path, query, extra, expected):
    assert call_name(method, path, query, {**auth("s3"), **extra}) == f"s3.{expected}"


def test_presigned_urls_are_counted():
    query = "X-Amz-Credential=testing%2F20261126%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Signature=x"
    assert call_name("GET", "/bucket/key", query, {}) == "s3.GetObject"


def test_unsigned_requests_are_not_aws_calls():
    assert call_name("GET", "/_sim/calls", "", {}) is None
    assert call_name("POST", "/", "", {"authorization": "Bearer token"}) is None


def test_counter_counts_snapshots_and_resets():
    counter = CallCounter()
    for name in ("ecs.DescribeServices", "s3.PutObject", "ecs.DescribeServices"):
        counter.record(name)
    assert counter.snapshot() == {"ecs.DescribeServices": 2, "s3.PutObject": 1}
    counter.reset()
    assert counter.snapshot() == {}
