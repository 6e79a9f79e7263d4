"""Long waits are not silent (issue 15, item 3): a slow rollout, migration and rollback in the
sandbox print a heartbeat every `wait.heartbeat` seconds with the figures of the moment."""

from __future__ import annotations

import re

from support.deploy_support import run_cli, write_config

HEARTBEAT = 0.2  # seconds; the sandbox's deployments take several of them
WAIT = {"timeout": 60, "poll": 0.1, "heartbeat": HEARTBEAT}
ROLLOUT = re.compile(
    r"waiting (?P<elapsed>[\d.]+)s/60s: "
    r"api (?P<api>\d)/2 running \((?P<api_state>[A-Z_]+)\), "
    r"web (?P<web>\d)/2 running \((?P<web_state>[A-Z_]+)\), "
    r"worker (?P<worker>\d)/2 running \((?P<worker_state>[A-Z_]+)\)"
)


def heartbeats(err: str) -> list[str]:
    """The heartbeat lines: `waiting ELAPSED/TIMEOUT: ...`, indented under their phase
    (docs/deploy.md)."""
    lines = [line.strip() for line in err.splitlines()]
    return [line for line in lines if re.match(r"waiting [\d.]+s/[\d.]+s: ", line)]


def elapsed_of(lines: list[str]) -> list[float]:
    return [float(line.split(" ", 2)[1].split("s/")[0]) for line in lines]


def test_a_slow_migration_and_rollout_print_heartbeats_with_their_figures(
    capsys, sandbox, environment, tmp_path
):
    sandbox.policy(
        {"services": {"*": {"converge_seconds": 1.5}}, "tasks": {"*": {"run_seconds": 1.0}}}
    )
    config = write_config(tmp_path, environment, wait=WAIT)
    images = [f"{key}={environment.image(key, 'v2')}" for key in ("api", "web")]

    ran = run_cli(
        capsys, "deploy", "--config", str(config), "-e", "sim",
        "--image", images[0], "--image", images[1],
    )  # fmt: skip

    assert ran.code == 0, ran.err
    migration = [line for line in heartbeats(ran.err) if "migration task" in line]
    assert migration, ran.err
    [started] = {line.split()[4] for line in migration}  # one task, named in every line
    for line in migration:  # the migrate section's timeout, the task, its last status
        assert re.fullmatch(rf"waiting [\d.]+s/60s: migration task {started} [A-Z]+", line), line
    assert any(line.endswith(" RUNNING") for line in migration), migration

    rollout = [m for line in heartbeats(ran.err) if (m := ROLLOUT.fullmatch(line))]
    assert len(rollout) >= 2, ran.err  # 1.5 s of rollout, a line every 0.2 s
    assert any(m["api_state"] == "IN_PROGRESS" for m in rollout), ran.err
    for m in rollout:  # each service's figures fit its deployment state
        for key in ("api", "web", "worker"):
            assert int(m[key]) <= 2
            if m[f"{key}_state"] == "COMPLETED":
                assert m[key] == "2"
    # One line per interval, in order; never more than the wait's own time.
    times = elapsed_of([m[0] for m in rollout])
    assert times == sorted(times)
    assert len(rollout) <= times[-1] / HEARTBEAT + 1


def test_a_rollback_waits_with_heartbeats_too(capsys, sandbox, environment, tmp_path):
    config = write_config(tmp_path, environment, wait=WAIT)
    for tag in ("v2", "v3"):
        image = f"api={environment.image('api', tag)}"
        done = run_cli(capsys, "deploy", "--config", str(config), "-e", "sim", "--image", image)
        assert done.code == 0, done.err
    sandbox.policy({"services": {"*": {"converge_seconds": 1.0}}})

    ran = run_cli(capsys, "rollback", "--config", str(config), "-e", "sim")

    assert ran.code == 0, ran.err
    # The services running the api image move back; web is left alone and not waited for.
    back = re.compile(
        r"waiting [\d.]+s/60s: api [012]/2 running \(IN_PROGRESS\), worker [012]/2 running "
        r"\([A-Z_]+\)"
    )
    assert any(back.fullmatch(line) for line in heartbeats(ran.err)), ran.err
