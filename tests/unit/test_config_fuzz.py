"""Random and mutated shipline.yml files: a Config or a ConfigError, never anything else."""

from __future__ import annotations

from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shipline.config import Config, load_config
from shipline.errors import ConfigError
from support.fuzz_support import mutated

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "config"
VALID = yaml.safe_load((FIXTURES / "valid.yml").read_text())
ENV = {"ECS_CLUSTER_NAME": "c", "API_BASE_URL": "https://api.example.com"}

mutated_documents = mutated(VALID)


def outcome(path: Path) -> Config | ConfigError:
    try:
        return load_config(path, env=ENV)
    except ConfigError as exc:
        assert exc.problems and all(isinstance(p, str) and "\n" not in p for p in exc.problems)
        return exc


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(document=mutated_documents)
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
