"""Counting AWS API calls made to the sandbox, named like `ecs.DescribeServices`.

The service is the SigV4 credential scope's service (`ecs`, `logs`, `s3`,
`elasticloadbalancing`, ...); the operation comes from X-Amz-Target (JSON protocols), the
`Action` parameter (query protocols) or, for S3, the REST method and path.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping
from urllib.parse import parse_qs

# S3 sub-resources (a query parameter on the bucket) and the name their operations share:
# GET -> Get<name>, PUT -> Put<name>, DELETE -> Delete<name>.
S3_BUCKET_SUBRESOURCES = {
    "acl": "BucketAcl",
    "cors": "BucketCors",
    "encryption": "BucketEncryption",
    "lifecycle": "BucketLifecycleConfiguration",
    "location": "BucketLocation",
    "logging": "BucketLogging",
    "notification": "BucketNotificationConfiguration",
    "object-lock": "ObjectLockConfiguration",
    "ownershipControls": "BucketOwnershipControls",
    "policy": "BucketPolicy",
    "publicAccessBlock": "PublicAccessBlock",
    "replication": "BucketReplication",
    "tagging": "BucketTagging",
    "versioning": "BucketVersioning",
    "website": "BucketWebsite",
}
S3_OBJECT_SUBRESOURCES = {
    "acl": "ObjectAcl",
    "tagging": "ObjectTagging",
    "retention": "ObjectRetention",
    "legal-hold": "ObjectLegalHold",
}


def signing_service(authorization: str | None, query: Mapping[str, list[str]]) -> str | None:
    """The service of a SigV4 credential scope: `AKID/20261126/us-east-1/ecs/aws4_request`."""
    credential = None
    if authorization and "Credential=" in authorization:
        credential = authorization.split("Credential=", 1)[1].split(",", 1)[0].strip()
    elif query.get("X-Amz-Credential"):  # a presigned URL
        credential = query["X-Amz-Credential"][0]
    if not credential:
        return None
    parts = credential.split("/")
    return parts[3].lower() if len(parts) == 5 else None


def s3_operation(method: str, path: str, query: Mapping[str, list[str]], copy_source: bool) -> str:
    """The S3 operation of a path-style request (`/bucket/key`)."""
    bucket, _, key = path.lstrip("/").partition("/")
    method = method.upper()
    verb = {"GET": "Get", "PUT": "Put", "DELETE": "Delete"}.get(method, "")
    if not bucket:
        return "ListBuckets"
    if not key:
        for name, operation in S3_BUCKET_SUBRESOURCES.items():
            if name in query and verb:
                return verb + operation
        if method == "POST" and "delete" in query:
            return "DeleteObjects"
        if method == "GET":
            if "versions" in query:
                return "ListObjectVersions"
            if "uploads" in query:
                return "ListMultipartUploads"
            return "ListObjectsV2" if query.get("list-type") == ["2"] else "ListObjects"
        return {"PUT": "CreateBucket", "DELETE": "DeleteBucket", "HEAD": "HeadBucket"}.get(
            method, f"{method}Bucket"
        )
    for name, operation in S3_OBJECT_SUBRESOURCES.items():
        if name in query and verb:
            return verb + operation
    if method == "POST":
        if "uploads" in query:
            return "CreateMultipartUpload"
        if "uploadId" in query:
            return "CompleteMultipartUpload"
    if method == "PUT":
        if "partNumber" in query:
            return "UploadPart"
        return "CopyObject" if copy_source else "PutObject"
    if method == "DELETE" and "uploadId" in query:
        return "AbortMultipartUpload"
    if method == "GET" and "uploadId" in query:
        return "ListParts"
    return {"GET": "GetObject", "HEAD": "HeadObject", "DELETE": "DeleteObject"}.get(
        method, f"{method}Object"
    )


def call_name(
    method: str,
    path: str,
    query_string: str,
    headers: Mapping[str, str],
    form: Mapping[str, list[str]] | None = None,
) -> str | None:
    """`service.Operation` of an AWS API request, or None when it is not one.

    `headers` has lower-case names; `form` is the decoded form body of a query-protocol request.
    """
    query = parse_qs(query_string, keep_blank_values=True)
    service = signing_service(headers.get("authorization"), query)
    if service is None:
        return None
    target = headers.get("x-amz-target")
    if target:
        return f"{service}.{target.rsplit('.', 1)[-1]}"
    action = (form or {}).get("Action") or query.get("Action")
    if action:
        return f"{service}.{action[0]}"
    if service == "s3":
        copy_source = "x-amz-copy-source" in headers
        return f"s3.{s3_operation(method, path, query, copy_source)}"
    return f"{service}.{method.upper()} {path}"


class CallCounter:
    """Thread-safe counts of call names since start or the last reset."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def record(self, name: str) -> None:
        with self._lock:
            self._counts[name] += 1

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(sorted(self._counts.items()))

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()
