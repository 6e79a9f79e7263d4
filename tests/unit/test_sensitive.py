"""The one secret rule (shipline.sensitive): what is a secret, what is masked, what is redacted."""

from __future__ import annotations

import pytest

from shipline import sensitive


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DB_PASS", "hunter2"),
        ("MYSQL_PWD", "hunter2"),
        ("PGPASSWORD", "hunter2"),
        ("DATABASE_URL", "postgres://app@db/app"),  # the inventory: always from a secret
        ("REPORTING_URL", "postgres://report:pa55word@db/app"),  # a URL password, any name
        ("anything", "ghp_" + "a" * 36),
        ("DATABASE_URL", "postgresql://app:s3cr3t@db.internal:5432/app"),
        ("REDIS_URL", "rediss://:p4ss@cache.internal:6379/0"),
        ("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
        ("AWS_SESSION_TOKEN", "IQoJb3JpZ2luX2VjEXAMPLE"),
        ("STRIPE_API_KEY", "whatever-it-is"),
        ("anything", "sk_live_" + "b" * 24),
        ("anything", "-----BEGIN RSA PRIVATE KEY-----\nMIIE..."),
        ("anything", "AKIAIOSFODNN7EXAMPLE"),
    ],
)
def test_secrets(name, value):
    assert sensitive.is_secret(name, value)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        # Known non-secrets: the inventory says so, whatever the name looks like.
        ("SECRETS_PROVIDER", "aws_sm"),
        ("AUTH_KEY_STORAGE_PROVIDER", "aws_sm"),
        ("AUTH_KEY_STORAGE_BACKEND", "secret-manager"),
        ("AUTH_KEY_SECRET_NAME", "agent-saas/production/auth-keyset"),
        ("PWD", "/home/runner/work"),  # the shell's working directory
        ("PASSPORT_OFFICE", "Berlin"),
        ("private_subnet_ids", "subnet-1"),
        ("DB_PASSWORD_ARN", "arn:aws:secretsmanager:us-east-1:1:secret:db"),
        ("API_BASE_URL", "https://api.example.com"),
        ("AWS_SM_SIGNING_SECRET_ARN", "arn:aws:secretsmanager:us-east-1:1:secret:sign"),
        ("ENVIRONMENT", "production"),
        ("DB_PASSWORD", "arn:aws:secretsmanager:us-east-1:1:secret:db"),
        ("DB_PASSWORD", ""),
        ("IMAGE", "123456789012.dkr.ecr.us-east-1.amazonaws.com/api:v1"),
    ],
)
def test_not_secrets(name, value):
    assert not sensitive.is_secret(name, value)


def test_a_url_password_is_masked_on_its_own_and_inside_the_url():
    value = "postgres://report:pa55-w0rd@db.internal:5432/app"
    assert sensitive.secret_parts("REPORTING_URL", value) == [value, "pa55-w0rd"]
    assert sensitive.mask_text(f"dsn {value}") == "dsn postgres://report:***@db.internal:5432/app"
    # A password with an @ in it is cut where urlsplit cuts it: at the last @ before the host.
    assert sensitive.url_passwords("redis://u:p@ss@cache:6379") == ["p@ss"]
    assert sensitive.mask_text("redis://u:p@ss@cache:6379") == "redis://u:***@cache:6379"


def test_mask_text_leaves_known_non_secrets_alone():
    text = "SECRETS_PROVIDER=aws_sm AUTH_KEY_STORAGE_BACKEND=secret-manager DB_PASS=hunter22"
    assert sensitive.mask_text(text) == (
        "SECRETS_PROVIDER=aws_sm AUTH_KEY_STORAGE_BACKEND=secret-manager DB_PASS=***"
    )


def test_mask_text_hides_secret_values_and_keeps_the_rest():
    text = (
        "DATABASE_URL=postgresql://app:s3cr3t@db:5432/app\n"
        "ENVIRONMENT=production\n"
        '{"name": "STRIPE_SECRET_KEY", "SESSION_SECRET": "abc123"}\n'
        "token ghp_" + "z" * 36 + " in a log line\n"
        "image: ghcr.io/acme/api:v1"
    )
    masked = sensitive.mask_text(text)
    assert "s3cr3t" not in masked
    assert "abc123" not in masked
    assert "ghp_" not in masked
    assert "DATABASE_URL=postgresql://app:***@db:5432/app" in masked
    assert "ENVIRONMENT=production" in masked
    assert '"SESSION_SECRET": "***"' in masked
    assert "image: ghcr.io/acme/api:v1" in masked


def test_redact_task_definition_keeps_everything_but_the_secrets():
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-url-AbCdEf"
    content = {
        "family": "api",
        "containerDefinitions": [
            {
                "name": "api",
                "image": "ghcr.io/acme/api:v2@sha256:" + "a" * 64,
                "command": ["serve", "--upstream", "https://u:t0ken-value@up.example/x"],
                "environment": [
                    {"name": "SECRETS_PROVIDER", "value": "aws_sm"},
                    {"name": "DB_PASS", "value": "hunter2"},
                    {"name": "REPORTING_URL", "value": "postgres://r:pa55word@db/app"},
                ],
                "secrets": [{"name": "DATABASE_URL", "valueFrom": arn}],
            }
        ],
    }
    redacted, where = sensitive.redact_task_definition(content)
    [container] = redacted["containerDefinitions"]
    assert {item["name"]: item["value"] for item in container["environment"]} == {
        "SECRETS_PROVIDER": "aws_sm",
        "DB_PASS": "***",
        "REPORTING_URL": "postgres://r:***@db/app",
    }
    assert container["command"][2] == "https://u:***@up.example/x"
    assert container["secrets"] == [{"name": "DATABASE_URL", "valueFrom": arn}]
    assert container["image"] == content["containerDefinitions"][0]["image"]
    assert where == ["api: DB_PASS", "api: REPORTING_URL", "api: command"]
    assert content["containerDefinitions"][0]["environment"][1]["value"] == "hunter2"  # a copy
