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
        "-lock-timeout=5m",
        "-out=/repo/shipline.tfplan",
        "-var-file=/repo/prod.tfvars",
        "-var=api_image=ghcr.io/o/api:1.2.3",
        "-var=registry_password=s3cr3t",
    ]


def test_show_apply_and_output():
    base = ["terraform", "-chdir=/repo/ops/infra/aws"]
    assert tf.show_command(INVOCATION, PLAN) == [*base, "show", "-json", str(PLAN)]
    assert tf.apply_command(INVOCATION, PLAN) == [
        *base,
        "apply",
        "-input=false",
        "-lock-timeout=5m",
        str(PLAN),
    ]
    assert tf.output_command(INVOCATION) == [*base, "output", "-json"]


def test_printable_hides_variable_values():
    text = tf.printable(tf.plan_command(INVOCATION, PLAN))
    assert "s3cr3t" not in text
    assert "ghcr.io/o/api" not in text
    assert "-var=registry_password=***" in text


def test_backend_config_files_become_absolute_pairs_stay(tmp_path):
    assert tf.absolute_backend_config("backend.hcl", tmp_path) == str(tmp_path / "backend.hcl")
    assert tf.absolute_backend_config("bucket=b", tmp_path) == "bucket=b"


def test_lock_timeout_is_a_terraform_duration():
    assert tf.check_lock_timeout("90s") == "90s"
    assert tf.check_lock_timeout("0") == "0"
    for bad in ("5 minutes", "-1s", "5", "1d", "5m; rm"):
        try:
            tf.check_lock_timeout(bad)
        except tf.UsageError as exc:
            assert "expected a duration" in str(exc)
        else:
            raise AssertionError(f"{bad!r} was accepted")


# What terraform 1.11.4 prints (stderr, in colour) when -lock-timeout passes with the local
# state locked by another terraform process (`terraform console` held it).
LOCK_ERROR = (
    "Acquiring state lock. This may take a few moments...\n"
    "\x1b[31m\u2577\x1b[0m\x1b[0m\n"
    "\x1b[31m\u2502\x1b[0m \x1b[0m\x1b[1m\x1b[31mError: \x1b[0m\x1b[0m\x1b[1m"
    "Error acquiring the state lock\x1b[0m\n"
    "\x1b[31m\u2502\x1b[0m \x1b[0m\n"
    "\x1b[31m\u2502\x1b[0m \x1b[0m\x1b[0mError message: resource temporarily unavailable\n"
    "\x1b[31m\u2502\x1b[0m \x1b[0mLock Info:\n"
    "\x1b[31m\u2502\x1b[0m \x1b[0m  ID:        9289a371-046d-7b2b-d5f4-7364c8505fd6\n"
    "\x1b[31m\u2502\x1b[0m \x1b[0m  Path:      terraform.tfstate\n"
    "\x1b[31m\u2502\x1b[0m \x1b[0m  Operation: OperationTypeInvalid\n"
    "\x1b[31m\u2502\x1b[0m \x1b[0m  Who:       root@vm\n"
)


def test_the_lock_id_is_read_from_terraforms_lock_error_and_nothing_else():
    assert tf.state_lock_id(LOCK_ERROR) == "9289a371-046d-7b2b-d5f4-7364c8505fd6"
    assert tf.state_lock_id(LOCK_ERROR.replace("9289a371", "$(rm -rf /)")) is None
    assert tf.state_lock_id("no lock here") is None


def test_a_held_state_lock_is_one_line_with_the_next_step_and_exit_2():
    locked = tf.StateLocked("plan", 1, "9289a371-046d-7b2b-d5f4-7364c8505fd6", INVOCATION)
    assert locked.exit_code == 2  # nothing was changed
    assert "\n" not in locked.message
    assert "-lock-timeout=5m" in locked.message
    assert (
        "terraform -chdir=/repo/ops/infra/aws force-unlock 9289a371-046d-7b2b-d5f4-7364c8505fd6"
        in locked.message
    )
