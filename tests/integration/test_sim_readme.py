"""The README's sandbox snippet works as written, in an empty directory, from a clean shell.

The snippet is read from README.md (the first `sh` block of "## The sandbox") and run by bash
line by line as a person would paste it: the sandbox started in the background, the seed's
export lines eval'd, the deploy run with the image references the seed printed. The one change
is the port: a free one instead of 4566, so parallel test sessions do not collide.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
SNIPPET_PORT = "4566"


def sandbox_snippet() -> str:
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## The sandbox\n", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert match, "README.md's sandbox section has no sh block"
    return match.group(1)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def newcomer_environment() -> dict[str, str]:
    """A shell without AWS settings: the snippet must bring its own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SIM_", "SHIPLINE_"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.pop("GITHUB_ACTIONS", None)
    return env


def test_the_readme_sandbox_snippet_deploys(tmp_path):
    snippet = sandbox_snippet()
    assert SNIPPET_PORT in snippet and "shipline deploy" in snippet
    port = str(free_port())
    # The harness around the snippet: stop at the first failing line, end the background
    # sandbox whatever happens.
    script = "set -e\ntrap 'kill $(jobs -p) 2>/dev/null; wait' EXIT\n"
    script += snippet.replace(SNIPPET_PORT, port)
    workdir = tmp_path / "empty"
    workdir.mkdir()
    done = subprocess.run(
        ["bash", "-c", script],
        cwd=workdir,
        env=newcomer_environment(),
        capture_output=True,
        text=True,
        timeout=180,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    assert re.search(r"deploy \S+ succeeded", output), output[-4000:]
    assert (workdir / "shipline.yml").is_file()


@pytest.mark.parametrize("config", ["mine.yml"])
def test_seed_keeps_a_shipline_yml_it_did_not_write(tmp_path, config, sandbox):
    """A user's own file is never overwritten: exit 2, one line, the file as it was."""
    path = tmp_path / config
    path.write_text("version: 1\n", encoding="utf-8")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "shipline",
            "sim",
            "seed",
            "--endpoint",
            sandbox.url,
            "--config",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=newcomer_environment(),
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert "was not written by `shipline sim seed`" in done.stderr
    assert path.read_text(encoding="utf-8") == "version: 1\n"
