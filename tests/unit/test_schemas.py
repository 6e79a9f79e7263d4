"""Every schema of shipline.schemas is valid JSON Schema 2020-12; problems read as sentences."""

from __future__ import annotations

import pytest
from jsonschema import Draft202012Validator

from shipline import schemas

NAMES = sorted(
    entry.name.removesuffix(".schema.json")
    for entry in schemas.SCHEMA_DIR.iterdir()
    if entry.name.endswith(".schema.json")
)


def test_every_schema_file_is_found():
    assert {"shipline", "release-record", "sim-policy", "env-inventory"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_schema_is_valid_2020_12(name):
    schema = schemas.load(name)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize(
    ("parts", "text"),
    [
        ((), "(top level)"),
        (("environments", "production", "services", "web"), "environments.production.services.web"),
        (("a", 0, "b"), "a[0].b"),
        (("services", "a b", "health"), 'services["a b"].health'),
        (("\n",), '["\\n"]'),
    ],
)
def test_paths_are_written_as_a_person_reads_them(parts, text):
    assert schemas.path_text(parts) == text


def test_a_key_ending_in_a_newline_is_quoted_so_a_problem_stays_on_one_line():
    # `$` also matches before a trailing newline: the key must match in full to go unquoted.
    from shipline.schemas import path_text

    assert path_text(["environments", "prod\n", "cluster"]) == 'environments["prod\\n"].cluster'
    assert "\n" not in path_text(["services", "web\n"])
