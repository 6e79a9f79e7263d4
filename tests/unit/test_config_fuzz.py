"""Random and mutated shipline.yml files: a Config or a ConfigError, never anything else."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shipline.config import Config, load_config
from shipline.errors import ConfigError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "config"
VALID = yaml.safe_load((FIXTURES / "valid.yml").read_text())
ENV = {"ECS_CLUSTER_NAME": "c", "API_BASE_URL": "https://api.example.com"}

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=20),
    st.sampled_from(["${X}", "${ECS_CLUSTER_NAME}", "${A:-b}", "$$", "${", "${}", "s3://", "-1"]),
)
values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)


def paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    found = [prefix]
    if isinstance(node, dict):
        for key, child in node.items():
            found += paths(child, (*prefix, key))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            found += paths(child, (*prefix, index))
    return found


@st.composite
def mutated_documents(draw: st.DrawFn) -> Any:
    document = copy.deepcopy(VALID)
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        where = draw(st.sampled_from(paths(document)))
        if not where:
            document = draw(values)
            continue
        parent = document
        for part in where[:-1]:
            parent = parent[part]
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "replace":
            parent[where[-1]] = draw(values)
        elif action == "delete":
            del parent[where[-1]]
        elif isinstance(parent, dict):
            parent[draw(st.text(max_size=8))] = draw(values)
    return document


def outcome(path: Path) -> Config | ConfigError:
    try:
        return load_config(path, env=ENV)
    except ConfigError as exc:
        assert exc.problems and all(isinstance(p, str) and "\n" not in p for p in exc.problems)
        return exc


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(document=mutated_documents())
def test_mutated_files_load_or_are_refused(tmp_path, document):
    path = tmp_path / "shipline.yml"
    path.write_text(yaml.safe_dump(document))
    outcome(path)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=st.text(max_size=200))
def test_arbitrary_text_loads_or_is_refused(tmp_path, text):
    path = tmp_path / "shipline.yml"
    path.write_text(text, encoding="utf-8")
    outcome(path)
