"""Terraform outputs -> app variables, per the inventory's mapping."""

from __future__ import annotations

import json

import pytest

from shipline.env.dotenv import parse_env_text
from shipline.env.from_terraform import (
    MappedVariable,
    env_from_terraform,
    parse_terraform_outputs,
    render_dotenv,
    render_github_env,
)
from shipline.env.inventory import load_inventory
from shipline.env.rules import check_environment
from shipline.errors import UsageError

SIGNING_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:signing-AbCdEf"
KEYSET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:keyset-XyZ123"


def outputs(**values: object) -> dict:
    document = {
        name: {"value": value, "type": "string", "sensitive": name.endswith("_arn_sensitive")}
        for name, value in values.items()
    }
    return parse_terraform_outputs(json.dumps(document))


def mapped(**values: object) -> dict[str, str]:
    return {item.name: item.value for item in env_from_terraform(outputs(**values))}


BLUEPRINT = {
    "environment": "production",
    "region": "us-east-1",
    "api_url": "https://api-alb.example.com",
    "web_url": "https://web-alb.example.com",
    "aws_sm_signing_secret_arn": SIGNING_ARN,
    "storage_bucket_name": "app-storage",
}


def test_the_guides_mapping_table():
    assert mapped(**BLUEPRINT) == {
        "ENVIRONMENT": "production",
        "AWS_REGION": "us-east-1",
        "APP_PUBLIC_URL": "https://web-alb.example.com",
        "API_BASE_URL": "https://api-alb.example.com",
        "SECRETS_PROVIDER": "aws_sm",
        "AWS_SM_SIGNING_SECRET_ARN": SIGNING_ARN,
        "AUTH_KEY_STORAGE_BACKEND": "secret-manager",
        "AUTH_KEY_STORAGE_PROVIDER": "aws_sm",
        "STORAGE_PROVIDER": "s3",
        "S3_BUCKET": "app-storage",
        "ALLOWED_HOSTS": "api-alb.example.com",
    }


def test_optional_url_inputs_win_over_the_derived_urls():
    env = mapped(
        **BLUEPRINT,
        app_public_url="https://app.example.com",
        api_base_url="https://api.example.com",
    )
    assert env["APP_PUBLIC_URL"] == "https://app.example.com"
    assert env["API_BASE_URL"] == "https://api.example.com"


@pytest.mark.parametrize("empty", ["", None])
def test_empty_optional_inputs_fall_back_to_the_derived_urls(empty):
    env = mapped(**BLUEPRINT, app_public_url=empty, api_base_url=empty)
    assert env["APP_PUBLIC_URL"] == "https://web-alb.example.com"
    assert env["API_BASE_URL"] == "https://api-alb.example.com"


def test_allowed_hosts_comes_from_the_blueprints_derived_output():
    assert mapped(allowed_hosts="api.example.com")["ALLOWED_HOSTS"] == "api.example.com"
    given = mapped(allowed_hosts="api.example.com", api_base_url="https://api.example.com/v1")
    assert given["ALLOWED_HOSTS"] == "api.example.com"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        # No allowed_hosts output (an older blueprint): the host of API_BASE_URL.
        ({"api_url": "https://api-alb.example.com"}, "api-alb.example.com"),
        # An api_base_url override the output misses: added, as the blueprint derives it.
        (
            {
                "allowed_hosts": "api-alb.example.com",
                "api_base_url": "https://API.example.com:8443",
            },
            "api-alb.example.com,api.example.com",
        ),
        (
            {"allowed_hosts": ".example.com", "api_base_url": "https://api.example.com"},
            ".example.com",
        ),
    ],
)
def test_allowed_hosts_always_covers_the_host_of_api_base_url(given, expected):
    env = mapped(**given)
    assert env["ALLOWED_HOSTS"] == expected
    covered = [p for p in check_environment(env, "api") if p.variable == "ALLOWED_HOSTS"]
    assert covered == []  # what the mapping writes, the checker accepts


def test_the_key_storage_backend_the_blueprint_sets_is_mapped():
    # The blueprint always sets AUTH_KEY_STORAGE_BACKEND=secret-manager (no input).
    item = next(
        i for i in env_from_terraform(outputs(region="us-east-1")) if i.name.endswith("BACKEND")
    )
    assert (item.name, item.value) == ("AUTH_KEY_STORAGE_BACKEND", "secret-manager")


def test_missing_outputs_leave_variables_out():
    assert mapped(environment="staging") == {
        "ENVIRONMENT": "staging",
        "SECRETS_PROVIDER": "aws_sm",
        "AUTH_KEY_STORAGE_BACKEND": "secret-manager",
        "AUTH_KEY_STORAGE_PROVIDER": "aws_sm",
        "STORAGE_PROVIDER": "s3",
    }


@pytest.mark.parametrize(
    "document",
    [{}, {"cluster_name": "acme-staging"}, {"environment": None, "api_base_url": ""}],
)
def test_outputs_that_set_no_variable_are_refused(document):
    # `terraform output -json` prints {} before the first apply: defaults alone are no mapping.
    with pytest.raises(UsageError, match="no output sets an app variable") as raised:
        env_from_terraform(outputs(**document), source="outputs.json")
    assert raised.value.message.startswith("outputs.json: ") and "\n" not in raised.value.message


def test_auth_key_storage_provider_defaults_to_the_secrets_provider():
    assert mapped(secrets_provider="vault_hcp")["AUTH_KEY_STORAGE_PROVIDER"] == "vault_hcp"
    env = mapped(secrets_provider="vault_hcp", auth_key_storage_provider="aws_sm")
    assert env["AUTH_KEY_STORAGE_PROVIDER"] == "aws_sm"


def test_the_keyset_arn_wins_for_aws_sm():
    both = {"auth_key_secret_arn": KEYSET_ARN, "auth_key_secret_name": "keyset"}
    assert mapped(**both)["AUTH_KEY_SECRET_NAME"] == KEYSET_ARN
    assert mapped(**both, auth_key_storage_provider="aws_sm")["AUTH_KEY_SECRET_NAME"] == KEYSET_ARN


def test_the_keyset_name_wins_for_other_providers():
    both = {"auth_key_secret_arn": KEYSET_ARN, "auth_key_secret_name": "kv/keyset"}
    env = mapped(**both, secrets_provider="vault_hcp")
    assert env["AUTH_KEY_SECRET_NAME"] == "kv/keyset"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({"auth_key_secret_name": "keyset"}, "keyset"),
        ({"auth_key_secret_arn": KEYSET_ARN, "secrets_provider": "vault_hcp"}, KEYSET_ARN),
        ({"auth_key_secret_arn": KEYSET_ARN, "auth_key_secret_name": ""}, KEYSET_ARN),
    ],
)
def test_either_keyset_input_alone_sets_the_variable(given, expected):
    assert mapped(**given)["AUTH_KEY_SECRET_NAME"] == expected


def test_sensitive_outputs_stay_sensitive_through_defaults():
    document = {
        "secrets_provider": {"value": "vault_hcp", "type": "string", "sensitive": True},
        "region": {"value": "eu-west-1", "type": "string", "sensitive": False},
    }
    result = {
        item.name: item
        for item in env_from_terraform(parse_terraform_outputs(json.dumps(document)))
    }
    assert result["SECRETS_PROVIDER"].sensitive
    assert result["AUTH_KEY_STORAGE_PROVIDER"].sensitive  # it took SECRETS_PROVIDER's value
    assert not result["AWS_REGION"].sensitive
    assert result["AWS_REGION"].source == "output region"


def test_values_that_are_not_text():
    env = mapped(environment=7, storage_provider=True)
    assert env["ENVIRONMENT"] == "7"
    assert env["STORAGE_PROVIDER"] == "true"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("not json", "not JSON"),
        ("[1, 2]", "expected a JSON object"),
        ('{"environment": "production"}', "has no `value`"),
        ('{"environment": {"type": "string"}}', "has no `value`"),
        ('{"region": {"value": ["a", "b"]}}', "is a list or an object"),
        ('{"region": {"value": {"a": 1}}}', "is a list or an object"),
    ],
)
def test_a_bad_outputs_file_is_one_line(text, reason):
    with pytest.raises(UsageError) as raised:
        env_from_terraform(parse_terraform_outputs(text, "outputs.json"), source="outputs.json")
    assert raised.value.message.startswith("outputs.json: ")
    assert reason in raised.value.message
    assert "\n" not in raised.value.message


def test_derived_urls_must_carry_a_scheme():
    with pytest.raises(UsageError, match="web_url"):
        env_from_terraform(outputs(web_url="web-alb.example.com"))


def test_every_terraform_output_read_is_documented_by_the_inventory():
    inventory = load_inventory()
    names = set(inventory.terraform_output_names())
    assert {"api_url", "web_url", "auth_key_secret_arn", "auth_key_secret_name"} <= names
    # The table of the hosting guide, input by input.
    guide = {
        "environment": "ENVIRONMENT",
        "api_base_url": "API_BASE_URL",
        "app_public_url": "APP_PUBLIC_URL",
        "region": "AWS_REGION",
        "secrets_provider": "SECRETS_PROVIDER",
        "aws_sm_signing_secret_arn": "AWS_SM_SIGNING_SECRET_ARN",
        "auth_key_secret_arn": "AUTH_KEY_SECRET_NAME",
        "auth_key_secret_name": "AUTH_KEY_SECRET_NAME",
        "auth_key_storage_provider": "AUTH_KEY_STORAGE_PROVIDER",
        "storage_provider": "STORAGE_PROVIDER",
        "storage_bucket_name": "S3_BUCKET",
    }
    by_input = {name: var.name for var in inventory.variables for name in var.terraform_inputs}
    assert by_input == guide


def test_dotenv_output_reads_back():
    tricky = env_from_terraform(outputs(**BLUEPRINT))
    tricky += [
        MappedVariable("SPACES", "two words # not a comment", False, "test"),
        MappedVariable("QUOTES", 'it\'s "quoted"', False, "test"),
        MappedVariable("LINES", "line one\nline two\\n", True, "test"),
    ]
    read_back = {entry.key: entry.value for entry in parse_env_text(render_dotenv(tricky))}
    assert read_back == {item.name: item.value for item in tricky}


def test_github_env_blocks_use_delimiters_that_survive_newlines():
    items = [MappedVariable("PEM", "-----BEGIN-----\nabc\n-----END-----", True, "test")]
    text = render_github_env(items)
    head, value_one, value_two, value_three, tail, end = text.split("\n")
    name, delimiter = head.split("<<")
    assert name == "PEM" and delimiter.startswith("ghadelimiter_") and tail == delimiter
    assert [value_one, value_two, value_three] == ["-----BEGIN-----", "abc", "-----END-----"]
    assert end == ""


def test_list_and_object_outputs_no_variable_reads_are_ignored():
    # The blueprint outputs private_subnet_ids (a list) next to the app's values.
    document = {
        "environment": {"value": "staging", "type": "string"},
        "private_subnet_ids": {"value": ["subnet-1", "subnet-2"], "type": ["list", "string"]},
        "tags": {"value": {"team": "a"}, "type": ["map", "string"]},
    }
    env = {
        item.name: item.value
        for item in env_from_terraform(parse_terraform_outputs(json.dumps(document)))
    }
    assert env["ENVIRONMENT"] == "staging"
