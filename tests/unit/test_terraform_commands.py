"""terraform command lines, built as data (pure)."""

from __future__ import annotations

from pathlib import Path

from shipline import terraform as tf

INVOCATION = tf.Invocation(
    executable="terraform",
    directory=Path("/repo/ops/infra/aws"),
    backend_configs=("/repo/backend.hcl", "key=prod.tfstate"),
    var_files=(Path("/repo/prod.tfvars"),),
    variables=("api_image=ghcr.io/o/api:1.2.3", "registry_password=s3cr3t"),
)
PLAN = Path("/repo/shipline.tfplan")


def test_init_never_prompts_and_passes_backend_config():
    assert tf.init_command(INVOCATION) == [
        "terraform",
        "-chdir=/repo/ops/infra/aws",
        "init",
        "-input=false",
        "-backend-config=/repo/backend.hcl",
        "-backend-config=key=prod.tfstate",
    ]


def test_plan_saves_a_plan_file_with_var_files_and_vars():
    assert tf.plan_command(INVOCATION, PLAN) == [
        "terraform",
        "-chdir=/repo/ops/infra/aws",
        "plan",
        "-input=false",
        "-out=/repo/shipline.tfplan",
        "-var-file=/repo/prod.tfvars",
        "-var=api_image=ghcr.io/o/api:1.2.3",
        "-var=registry_password=s3cr3t",
    ]


def test_show_apply_and_output():
    base = ["terraform", "-chdir=/repo/ops/infra/aws"]
    assert tf.show_command(INVOCATION, PLAN) == [*base, "show", "-json", str(PLAN)]
    assert tf.apply_command(INVOCATION, PLAN) == [*base, "apply", "-input=false", str(PLAN)]
    assert tf.output_command(INVOCATION) == [*base, "output", "-json"]


def test_printable_hides_variable_values():
    text = tf.printable(tf.plan_command(INVOCATION, PLAN))
    assert "s3cr3t" not in text
    assert "ghcr.io/o/api" not in text
    assert "-var=registry_password=***" in text


def test_backend_config_files_become_absolute_pairs_stay(tmp_path):
    assert tf.absolute_backend_config("backend.hcl", tmp_path) == str(tmp_path / "backend.hcl")
    assert tf.absolute_backend_config("bucket=b", tmp_path) == "bucket=b"
