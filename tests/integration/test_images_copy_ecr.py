"""An ECR destination (or source) of `images copy` is logged in to as `docker login` does it:
user `AWS` and the token of GetAuthorizationToken, asked with the AWS credentials (sandbox)."""

from __future__ import annotations

from shipline.images.ecr import ecr_registry_credentials
from shipline.images.reference import parse_registry

ECR_HOST = "123456789012.dkr.ecr.us-east-1.amazonaws.com"  # moto's account


def test_ecr_credentials_come_from_get_authorization_token(sandbox):
    sandbox.reset_calls()
    credentials = ecr_registry_credentials(parse_registry(ECR_HOST))
    assert credentials.username == "AWS"
    assert credentials.password
    assert credentials.are_for(ECR_HOST)
    assert not credentials.are_for("ghcr.io")
    assert credentials.password not in repr(credentials)
    assert sandbox.calls().get("ecr.GetAuthorizationToken") == 1
