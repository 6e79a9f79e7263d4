"""`shipline verify` alone, against the sandbox's health endpoints."""

from __future__ import annotations

import copy
import signal
import subprocess
import sys

from support.deploy_support import run_cli, write_config
from support.hostile_http import hostile_server, trickle


def verify(capsys, config, *args):
    return run_cli(capsys, "verify", "--config", str(config), "-e", "sim", *args)


def test_a_healthy_environment_verifies(capsys, sandbox, environment, tmp_path):
    config = write_config(tmp_path, environment)
    ran = verify(capsys, config, "--json")
    assert ran.code == 0, ran.err
    result = ran.json()
    assert result["healthy"] is True
    assert {r["service"]: (r["ok"], r["status"], r["attempts"]) for r in result["results"]} == {
        "api": (True, 200, 2),
        "web": (True, 200, 2),
    }


def test_the_verdict_is_on_stdout_and_the_progress_on_stderr(
    capsys, sandbox, environment, tmp_path
):
    config = write_config(tmp_path, environment)
    ran = verify(capsys, config)
    assert ran.code == 0, ran.err
    assert ran.out == "sim: healthy\n"
    assert "sim: healthy" not in ran.err


def test_an_unhealthy_service_fails_verification(capsys, sandbox, environment, tmp_path):
    sandbox.policy({"services": {environment.services["web"]: {"unhealthy": True}}})
    config = write_config(
        tmp_path,
        environment,
        health={"timeout": 0.5, "interval": 0.1, "successes": 2, "request_timeout": 1},
    )
    ran = verify(capsys, config, "--json")
    assert ran.code == 1
    results = {r["service"]: r for r in ran.json()["results"]}
    assert results["api"]["ok"] is True
    assert results["web"]["ok"] is False and results["web"]["status"] == 503


def test_a_health_check_expecting_the_body_status_passes_on_the_sandbox_endpoints(
    capsys, sandbox, environment, tmp_path
):
    services = copy.deepcopy(environment.shipline_config()["environments"]["sim"]["services"])
    for key in ("api", "web"):
        services[key]["health"] = {"url": services[key]["health"], "expect": {"status": "ok"}}
    config = write_config(tmp_path, environment, services=services)
    ran = verify(capsys, config, "--json")
    assert ran.code == 0, ran.err
    assert [r["ok"] for r in ran.json()["results"]] == [True, True]


def test_verify_refuses_an_unknown_service_and_a_service_without_health(
    capsys, sandbox, environment, tmp_path
):
    config = write_config(tmp_path, environment)
    unknown = verify(capsys, config, "--service", "db")
    assert unknown.code == 2 and "not a service of 'sim'" in unknown.err
    none = verify(capsys, config, "--service", "worker")
    assert none.code == 2 and "nothing to verify" in none.err


def test_sigterm_stops_verify_while_a_server_trickles_its_answer(sandbox, environment, tmp_path):
    """One byte every 0.5 s for a minute: no read ever times out, and SIGTERM still ends
    `shipline verify` at once (issue 12, finding 2)."""
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 120\r\n\r\n" + b"x" * 120
    with hostile_server(trickle(answer, 0.5)) as server:
        document = environment.shipline_config()["environments"]["sim"]
        services = copy.deepcopy(document["services"])
        services["api"]["health"] = server.url
        services["web"].pop("health", None)
        config = write_config(
            tmp_path,
            environment,
            services=services,
            health={"timeout": 300, "interval": 1, "successes": 1, "request_timeout": 5},
        )
        process = subprocess.Popen(
            [sys.executable, "-m", "shipline", "verify", "--config", str(config), "-e", "sim"],
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert server.connected.wait(30), "verify never asked for the health URL"
            process.send_signal(signal.SIGTERM)
            _, err = process.communicate(timeout=20)  # the trickle alone lasts 80 s
        finally:
            process.kill()
            process.wait()
        [connection] = server.connections
    assert process.returncode == 1, err
    assert "interrupted by SIGTERM" in err
    assert not connection.completed
