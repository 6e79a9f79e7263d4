"""Start-up stays light: the CLI imports boto3, moto and requests only where a command runs.

Structural, not timed (bench/startup.py measures the time): each case runs a fresh
`python -X importtime -m shipline ...` and reads which modules it imported.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from shipline import commands

ROOT = Path(__file__).resolve().parents[2]
COMMANDS = sorted(
    path.stem.rstrip("_")
    for path in Path(commands.__file__).parent.glob("*.py")
    if not path.stem.startswith("__")
)
AWS_MODULES = {"boto3", "botocore", "moto", "requests", "urllib3"}


def imported_modules(*argv: str) -> set[str]:
    environment = {
        **os.environ,
        "ECS_CLUSTER_NAME": "app-production",
        "API_BASE_URL": "https://api.example.com",
    }
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "shipline", *argv],
        capture_output=True,
        text=True,
        env=environment,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    modules = set()
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and line.count("|") == 2:
            name = line.rsplit("|", 1)[1].strip()
            modules.add(name.split(".", 1)[0])
    assert "shipline" in modules, "no -X importtime output was read"
    return modules


def test_help_imports_no_aws_sdk_no_schema_validator_and_no_yaml():
    modules = imported_modules("--help")
    assert modules.isdisjoint(AWS_MODULES | {"jsonschema", "yaml"}), modules & (
        AWS_MODULES | {"jsonschema", "yaml"}
    )


def test_config_check_reads_yaml_and_schemas_but_imports_no_aws_sdk():
    config = ROOT / "tests" / "fixtures" / "config" / "valid.yml"
    modules = imported_modules("config", "check", "--config", str(config))
    assert {"yaml", "jsonschema"} <= modules  # it did the work it names
    assert modules.isdisjoint(AWS_MODULES), modules & AWS_MODULES


@pytest.mark.parametrize("command", COMMANDS)
def test_each_commands_help_imports_no_aws_sdk(command):
    modules = imported_modules(command, "--help")
    assert modules.isdisjoint(AWS_MODULES), f"shipline {command} --help imports " + ", ".join(
        sorted(modules & AWS_MODULES)
    )
