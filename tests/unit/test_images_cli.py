"""`shipline images plan` on the command line, and the starter example it builds."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from shipline.cli import main

ROOT = Path(__file__).resolve().parents[2]
STARTER = ROOT / "examples" / "starter"


def plan(capsys, *args: str) -> tuple[int, dict | None, str]:
    code = main(["images", "plan", "--config", str(STARTER / "shipline.yml"), *args])
    captured = capsys.readouterr()
    return code, json.loads(captured.out) if "--json" in args else None, captured.err


@pytest.fixture(autouse=True)
def outside_actions(monkeypatch):
    for name in ("GITHUB_ACTIONS", "SHIPLINE_REGISTRY", "SHIPLINE_IMAGE_PREFIX"):
        monkeypatch.delenv(name, raising=False)


def test_plan_of_the_starter_for_ghcr(capsys):
    code, result, err = plan(
        capsys, "--registry", "ghcr.io", "--image-prefix", "Acme/Shop", "--json"
    )
    assert code == 0, err
    assert [image["repository"] for image in result["images"]] == [
        "ghcr.io/acme/shop/api",
        "ghcr.io/acme/shop/web",
    ]
    assert result["images"][1]["build_args"] == "APP_VERSION=dev"
    assert "note: image_prefix 'Acme/Shop' lowercased to 'acme/shop'" in err
    assert "api: ghcr.io/acme/shop/api" in err


def test_plan_prints_its_result_on_stdout_and_notes_on_stderr(capsys):
    config = str(STARTER / "shipline.yml")
    code = main(
        ["images", "plan", "--config", config, "--registry", "ghcr.io", "--image-prefix", "a/b"]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "  api: ghcr.io/a/b/api  (context examples/starter)" in out.splitlines()
    assert out.startswith("ghcr.io: ghcr; log in: ")
    assert "ghcr.io/a/b/api" not in err


def test_plan_reads_registry_and_prefix_from_the_environment(capsys, monkeypatch):
    monkeypatch.setenv("SHIPLINE_REGISTRY", "123456789012.dkr.ecr.eu-west-1.amazonaws.com")
    monkeypatch.setenv("SHIPLINE_IMAGE_PREFIX", "agent-saas")
    code, result, _ = plan(capsys, "--json")
    assert code == 0
    assert result["ecr"] == {"account": "123456789012", "region": "eu-west-1"}


def test_plan_writes_the_matrix_as_github_outputs(capsys, monkeypatch, tmp_path):
    outputs = tmp_path / "output"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_OUTPUT", str(outputs))
    code, _, _ = plan(capsys, "--registry", "ghcr.io", "--image-prefix", "acme/shop")
    assert code == 0
    text = outputs.read_text()
    values = {}
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        name, delimiter = lines[index].split("<<")
        end = lines.index(delimiter, index + 1)
        values[name] = "\n".join(lines[index + 1 : end])
        index = end + 1
    assert values["kind"] == "ghcr"
    assert values["registry"] == "ghcr.io"
    matrix = json.loads(values["matrix"])
    assert [entry["name"] for entry in matrix["include"]] == ["api", "web"]


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["--image-prefix", "acme/shop"], "no registry: pass --registry HOST"),
        (["--registry", "ghcr.io"], "no image prefix: pass --image-prefix PATH"),
        (["--registry", "https://ghcr.io", "--image-prefix", "a/b"], "without a scheme"),
        (["--registry", "ghcr.io", "--image-prefix", "a/-b"], "component '-b'"),
        (["--registry", "registry", "--image-prefix", "a"], "needs a dot or a port"),
    ],
)
def test_bad_input_is_exit_2_with_one_line(capsys, args, reason):
    code, result, err = plan(capsys, *args)
    assert code == 2
    assert result is None
    assert err.count("\n") == 1 and err.startswith("shipline: error: ")
    assert reason in err


def test_a_config_without_images_is_exit_2(capsys, tmp_path):
    config = tmp_path / "shipline.yml"
    text = (STARTER / "shipline.yml").read_text()
    config.write_text(text[: text.index("images:")] + text[text.index("environments:") :])
    code = main(
        [
            "images",
            "plan",
            "--config",
            str(config),
            "--registry",
            "ghcr.io",
            "--image-prefix",
            "a/b",
        ]
    )
    assert code == 2
    assert "has no `images:` section" in capsys.readouterr().err


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def dockerfile_env(app: str) -> dict[str, str]:
    """SERVICE and HEALTH_PATH as the image's Dockerfile sets them (`ENV` lines)."""
    text = (STARTER / app / "Dockerfile").read_text()
    return {
        name: re.search(rf"\b{name}=(\S+)", text).group(1) for name in ("SERVICE", "HEALTH_PATH")
    }


@pytest.mark.parametrize(("app", "path"), [("api", "/health/ready"), ("web", "/api/health/ready")])
def test_starter_apps_answer_their_health_endpoints(app, path):
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, str(STARTER / "server.py")],
        env={**dockerfile_env(app), "PORT": str(port), "APP_VERSION": "1.2.3", "PATH": "/bin"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                answer = requests.get(f"http://127.0.0.1:{port}{path}", timeout=1)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, f"{app} did not start"
                time.sleep(0.05)
        assert answer.status_code == 200
        assert answer.json() == {"status": "ok", "service": app, "version": "1.2.3"}
        assert requests.get(f"http://127.0.0.1:{port}/nope", timeout=1).status_code == 404
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.mark.parametrize("app", ["api", "web"])
def test_starter_dockerfiles_run_the_server_they_copy(app):
    dockerfile = (STARTER / app / "Dockerfile").read_text()
    assert "COPY server.py ." in dockerfile
    assert 'CMD ["python", "server.py"]' in dockerfile
    assert "USER nobody" in dockerfile
    port = "8000" if app == "api" else "3000"
    assert f"EXPOSE {port}" in dockerfile and f"PORT={port}" in dockerfile
