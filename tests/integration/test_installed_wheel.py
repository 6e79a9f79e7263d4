"""shipline as users get it: the built wheel, installed in a fresh venv outside the checkout.

One wheel (built from a copy of this repository's files, as a clone has them), one venv with
the locked runtime dependencies (`--require-hashes`) and the `sim` extra, and every command run
by that venv's `shipline` from a folder outside the checkout: `config check`, `sim`, and a
deploy against that sandbox. Nothing can be read from the checkout, so whatever the package
needs at run time (its JSON Schemas above all) must be inside the wheel.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
import yaml

from shipline.sim.policy import write_policy
from shipline.sim.seed import seed_environment
from support.deploy_support import image_of, records, running_task_definitions
from support.sim_sandbox import DEFAULT_POLICY, REGION, read_first_line

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.installs


def run(command: list[str | Path], **kwargs: object) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(command, capture_output=True, text=True, check=False, **kwargs)
    assert done.returncode == 0, f"{command}: {done.stdout}{done.stderr}"
    return done


def clone_of_this_repository(target: Path) -> Path:
    """This repository's tracked (and new, not ignored) files: no build output, no venv."""
    listed = run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO)
    for name in filter(None, listed.stdout.split("\0")):
        if (REPO / name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, target / name)
    return target


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bin folder of a fresh venv with shipline installed from its wheel."""
    source = clone_of_this_repository(tmp_path_factory.mktemp("source"))
    wheels = tmp_path_factory.mktemp("wheels")
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    # The build backend is the locked one of this venv (no isolation, nothing from the index).
    run([*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", wheels, source])
    [wheel] = wheels.glob("shipline-*.whl")
    venv = tmp_path_factory.mktemp("venv") / "venv"
    assert not venv.is_relative_to(REPO)
    run([sys.executable, "-m", "venv", str(venv)])
    venv_pip = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check"]
    run([*venv_pip, "install", "--require-hashes", "--no-deps", "-r", REPO / "requirements.lock"])
    run([*venv_pip, "install", f"{wheel}[sim]"])  # moto[server], pinned by the sim extra
    return venv / "bin"


def user_env(bin_folder: Path, **extra: str) -> dict[str, str]:
    """A user's shell: the venv first on PATH, nothing pointing at the checkout or at AWS."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_", "GITHUB_", "PYTHON", "VIRTUAL_ENV", "SHIPLINE_"))
    }
    env["PATH"] = os.pathsep.join([str(bin_folder), "/usr/bin", "/bin"])
    return {**env, **extra}


def test_the_installed_wheel_checks_config_runs_the_sandbox_and_deploys(installed, tmp_path):
    home = tmp_path / "project"  # the user's folder, outside the checkout
    home.mkdir()
    shown = run(
        [installed / "python", "-c", "import shipline; print(shipline.__file__)"],
        cwd=home,
        env=user_env(installed),
    )
    assert Path(shown.stdout.strip()).is_relative_to(installed.parent), shown.stdout

    # The starter's shipline.yml, checked as a user checks theirs.
    shutil.copy2(REPO / "examples" / "starter" / "shipline.yml", home / "shipline.yml")
    checked = run(
        [installed / "shipline", "config", "check", "--json"], cwd=home, env=user_env(installed)
    )
    assert json.loads(checked.stdout)["environments"] == {"production": ["api", "web", "worker"]}

    policy, sim_log = home / "sim-policy.json", tmp_path / "sim-stderr.log"
    write_policy(policy, DEFAULT_POLICY)
    with sim_log.open("wb") as stderr:
        sim = subprocess.Popen(
            [installed / "shipline", "sim", "--port", "0", "--policy", policy],
            cwd=home,
            env=user_env(installed),
            stdout=subprocess.PIPE,
            stderr=stderr,
        )
    try:
        try:
            url = read_first_line(sim, timeout=60)
        except RuntimeError as exc:
            raise AssertionError(f"{exc}: {sim_log.read_text()[-3000:]}") from None
        assert url.startswith("http://127.0.0.1:")
        environment = seed_environment(url, region=REGION)
        config = home / "shipline.yml"
        config.write_text(yaml.safe_dump(environment.shipline_config()), encoding="utf-8")
        aws = {
            "AWS_ENDPOINT_URL": url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": REGION,
        }

        session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
        )
        ecs, s3 = (session.client(name, endpoint_url=url) for name in ("ecs", "s3"))
        before = running_task_definitions(environment, ecs)
        images = [f"--image={key}={environment.image(key, 'v2')}" for key in ("api", "web")]
        run(
            [installed / "shipline", "deploy", "-e", "sim", *images],
            cwd=home,
            env=user_env(installed, **aws),
        )
        after = running_task_definitions(environment, ecs)
        for key in ("api", "web", "worker"):
            assert after[key] != before[key], key
        assert image_of(ecs, after["api"], "api") == environment.pinned("api", "v2")
        assert image_of(ecs, after["web"], "web") == environment.pinned("web", "v2")
        [record] = records(environment, s3)
        assert record["status"] == "succeeded"
    finally:
        sim.send_signal(signal.SIGTERM)
        code = sim.wait(timeout=30)
        if sim.stdout is not None:
            sim.stdout.close()
    stderr = sim_log.read_text(errors="replace")
    assert code == 0, stderr[-3000:]
    assert "Traceback" not in stderr
