"""`shipline config from-terraform`: the blueprint's outputs -> an environment of shipline.yml.

The outputs here are written by hand in `terraform output -json` form (the blueprint's own are
evaluated in tests/infra/test_starter_blueprint.py); bad input is exit 2 with one line.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shipline.cli import main
from shipline.config import load_config

OUTPUTS = {
    "region": "eu-west-1",
    "cluster_name": "shop-staging",
    "api_service_name": "shop-staging-api",
    "web_service_name": "shop-staging-web",
    "worker_service_name": None,
    "history_bucket": "shop-staging-releases-111122223333",
    "api_url": "https://api.shop.example",
    "web_url": "https://shop.example",
    "api_base_url": "",
    "app_public_url": "",
}


def write(tmp_path: Path, values: dict, sensitive: frozenset[str] = frozenset()) -> Path:
    document = {
        name: {"sensitive": name in sensitive, "type": "string", "value": value}
        for name, value in values.items()
    }
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(document))
    return path


def run(capsys, path: Path, *extra: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["config", "from-terraform", "--outputs", str(path), "-e", "staging", *extra])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_written_file_is_a_valid_shipline_yml_with_the_outputs_names(capsys, tmp_path):
    code, out, err = run(capsys, write(tmp_path, OUTPUTS))
    assert code == 0, err
    written = tmp_path / "shipline.yml"
    written.write_text(out)
    staging = load_config(written, env={}).environment("staging")
    assert (staging.region, staging.cluster) == ("eu-west-1", "shop-staging")
    assert staging.history == "s3://shop-staging-releases-111122223333/shipline"
    assert {key: svc.service for key, svc in staging.services.items()} == {
        "api": "shop-staging-api",
        "web": "shop-staging-web",
    }
    assert staging.services["api"].health == "https://api.shop.example/health/ready"
    assert staging.services["web"].health == "https://shop.example/api/health/ready"
    assert staging.migrate is not None and staging.migrate.service == "api"
    assert "worker: left out (output worker_service_name is null: not created)" in err


def test_url_inputs_win_over_the_derived_urls_as_in_env_from_terraform(capsys, tmp_path):
    values = {**OUTPUTS, "api_base_url": "https://edge.shop.example/api/"}
    code, out, err = run(capsys, write(tmp_path, values), "--json")
    assert code == 0, err
    api = json.loads(out)["environments"]["staging"]["services"]["api"]
    assert api["health"] == "https://edge.shop.example/api/health/ready"


def test_without_the_api_there_is_no_migration_and_it_says_so(capsys, tmp_path):
    values = {**OUTPUTS, "api_service_name": None}
    code, out, err = run(capsys, write(tmp_path, values), "--json")
    assert code == 0, err
    assert "migrate" not in json.loads(out)["environments"]["staging"]
    assert "migrate: left out (its service api is not created)" in err


@pytest.mark.parametrize(
    ("values", "sensitive", "reason"),
    [
        ({}, frozenset(), "outputs: no output sets an app variable"),
        (
            {k: v for k, v in OUTPUTS.items() if k != "cluster_name"},
            frozenset(),
            "outputs: no value for `cluster_name`",
        ),
        ({**OUTPUTS, "history_bucket": ""}, frozenset(), "no value for `history_bucket`"),
        (OUTPUTS, frozenset({"cluster_name"}), "`cluster_name` is sensitive"),
        (OUTPUTS, frozenset({"api_url"}), "API_BASE_URL comes from a sensitive output"),
        ({**OUTPUTS, "cluster_name": "a b"}, frozenset(), "environments.staging.cluster"),
    ],
)
def test_bad_outputs_are_exit_2_with_one_line_and_nothing_written(
    capsys, tmp_path, values, sensitive, reason
):
    code, out, err = run(capsys, write(tmp_path, values, sensitive))
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("shipline: error: ")
    assert reason in err


def test_an_environment_name_shipline_yml_cannot_hold_is_refused(capsys, tmp_path):
    capsys.readouterr()
    path = write(tmp_path, OUTPUTS)
    code = main(["config", "from-terraform", "--outputs", str(path), "-e", "Prod Env"])
    assert code == 2
    assert "is not allowed" in capsys.readouterr().err


def test_a_missing_outputs_file_is_exit_2(capsys, tmp_path):
    code, out, err = run(capsys, tmp_path / "missing.json")
    assert (code, out) == (2, "")
    assert "Terraform outputs file not found" in err


def test_the_mapping_fits_its_schema():
    from shipline import schemas
    from shipline.configmap import load_mapping

    assert schemas.problems("shipline-from-terraform", load_mapping()) == []
