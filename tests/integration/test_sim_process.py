"""`shipline sim` as a process: URL first, clean exit on signals, bad policy refused."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys

import pytest
import requests

from support.sim_sandbox import read_first_line, sim_command


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_first_line_is_the_url_and_a_signal_ends_it_cleanly(tmp_path, stop_signal):
    process = subprocess.Popen(
        sim_command("--port", "0", cli=True), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        url = read_first_line(process, timeout=30)
        assert url.startswith("http://127.0.0.1:")
        assert int(url.rsplit(":", 1)[1]) > 0
        assert requests.get(f"{url}/_sim/calls", timeout=10).json() == {}
        process.send_signal(stop_signal)
        assert process.wait(timeout=10) == 0
        assert process.stdout.read() == b""  # nothing after the URL
        assert b"Traceback" not in process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        process.stdout.close()
        process.stderr.close()


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ({"services": {"*": {"converge_seconds": -1}}}, "converge_seconds"),
        ({"services": {"*": {"retries": 3}}}, "retries"),
        ({"tasks": {"*": {"exit_code": "one"}}}, "exit_code"),
        ("{not json", "not JSON"),
    ],
)
def test_an_invalid_policy_at_start_is_one_line_and_exit_2(tmp_path, content, expected):
    policy = tmp_path / "policy.json"
    policy.write_text(content if isinstance(content, str) else json.dumps(content))
    done = subprocess.run(
        sim_command("--policy", str(policy), cli=True), capture_output=True, timeout=30
    )
    assert done.returncode == 2
    assert done.stdout == b""
    lines = done.stderr.decode().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("shipline: error: ")
    assert str(policy) in lines[0] and expected in lines[0]


def test_a_missing_policy_file_is_refused(tmp_path):
    done = subprocess.run(
        sim_command("--policy", str(tmp_path / "absent.json"), cli=True),
        capture_output=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert "absent.json" in done.stderr.decode()


def test_demo_tells_its_story_and_exits_0():
    done = subprocess.run(
        [sys.executable, "-m", "shipline", "demo"], capture_output=True, timeout=180
    )
    stderr = done.stderr.decode()
    assert done.returncode == 0, stderr[-3000:]
    assert "demo: sandbox at http://127.0.0.1:" in stderr
    assert "demo: done in " in stderr
    assert "Traceback" not in stderr
    # Read at a glance (issue 15): under 120 lines for `make demo`, which adds its own command
    # line; no raw ECS events, task ids or whole digests; stdout is for --json.
    lines = stderr.splitlines()
    assert len(lines) + 1 < 120, f"{len(lines)} lines:\n{stderr}"
    assert "event:" not in stderr and "(task " not in stderr
    assert not re.search(r"[0-9a-f]{64}", stderr)
    assert done.stdout == b""


def test_a_port_in_use_is_refused_in_one_line():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            sim_command("--port", str(port), cli=True), capture_output=True, timeout=60
        )
    assert done.returncode == 2
    lines = done.stderr.decode().splitlines()
    assert lines == [f"shipline: error: cannot listen on 127.0.0.1:{port}: Address already in use"]
