"""The variable inventory: valid against its schema, and docs/configuration.md agrees with it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shipline import schemas
from shipline.env import docs as envdocs
from shipline.env.inventory import INVENTORY_PATH, load_inventory
from shipline.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "configuration.md"


def test_the_inventory_fits_its_schema():
    document = json.loads(INVENTORY_PATH.read_text(encoding="utf-8"))
    assert schemas.problems("env-inventory", document) == []


def test_the_guides_variables_are_all_there():
    names = {var.name for var in load_inventory().variables}
    assert {
        "ENVIRONMENT", "DATABASE_URL", "REDIS_URL", "APP_PUBLIC_URL", "SECRETS_PROVIDER",
        "AWS_REGION", "AWS_SM_SIGNING_SECRET_ARN", "AUTH_KEY_STORAGE_BACKEND",
        "AUTH_KEY_STORAGE_PROVIDER", "AUTH_KEY_SECRET_NAME", "STORAGE_PROVIDER", "S3_BUCKET",
        "ALLOWED_HOSTS", "ALLOWED_ORIGINS", "API_BASE_URL", "ENABLE_BILLING_RETRY_WORKER",
        "BILLING_RETRY_DEPLOYMENT_MODE",
    } == names  # fmt: skip


def test_conditions_and_defaults_name_known_variables():
    inventory = load_inventory()
    names = {var.name for var in inventory.variables}
    for var in inventory.variables:
        referenced = set(var.required.when or {})
        for default in (var.default, var.terraform_default):
            if default and default.from_variable:
                referenced.add(default.from_variable)
        if var.format_when:
            referenced |= set(var.format_when.when)
        if var.terraform_preferred_input:
            referenced |= set(var.terraform_preferred_input.when)
        assert referenced <= names, var.name
    assert set(inventory.api_when_replicated) <= names
    assert set(inventory.worker_topology) <= names


def test_a_broken_inventory_is_a_config_error(tmp_path):
    document = json.loads(INVENTORY_PATH.read_text(encoding="utf-8"))
    document["variables"].append(dict(document["variables"][0]))
    document["variables"][1]["format"] = "zip_code"
    path = tmp_path / "env-inventory.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_inventory(path)
    text = raised.value.message
    assert "ENVIRONMENT is listed twice" in text
    assert "variables[1].format" in text


def test_docs_configuration_matches_the_inventory():
    blocks = envdocs.document_blocks(DOC.read_text(encoding="utf-8"))
    expected = envdocs.generated_blocks()
    assert set(blocks) == set(expected)
    for name, body in expected.items():
        assert blocks[name] == body, (
            f"docs/configuration.md block {name!r} is stale: run "
            "`.venv/bin/python -m shipline.env.docs --update docs/configuration.md`"
        )


def test_the_docs_check_notices_a_changed_inventory(tmp_path):
    stale = tmp_path / "configuration.md"
    text = DOC.read_text(encoding="utf-8").replace("`S3_BUCKET`", "`S3_BUCKET_NAME`", 1)
    stale.write_text(text, encoding="utf-8")
    assert envdocs.main(["--check", str(stale)]) == 1
    assert envdocs.main(["--update", str(stale)]) == 0
    assert envdocs.main(["--check", str(stale)]) == 0
    assert stale.read_text(encoding="utf-8") == DOC.read_text(encoding="utf-8")


def test_every_variable_is_in_the_docs_table():
    table = envdocs.generated_blocks()["variables"]
    for var in load_inventory().variables:
        assert f"| `{var.name}` |" in table
