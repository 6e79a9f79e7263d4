"""The release engine under injected faults: throttled AWS calls, flapping and hanging health."""

from __future__ import annotations

from support.deploy_support import (
    lock_exists,
    records,
    run_cli,
    running_task_definitions,
    write_config,
)

THROTTLED = ("ecs.DescribeServices", "ecs.UpdateService", "ecs.RunTask")
# With this seed the first draw of each throttled operation fails, so each of them is
# throttled at least once (the draws are per operation, see shipline.sim.faults).
SEED = 22


def deploy(capsys, config, environment, tag, *extra):
    images = [f"--image=api={environment.image('api', tag)}"]
    images.append(f"--image=web={environment.image('web', tag)}")
    return run_cli(capsys, "deploy", "--config", str(config), "-e", "sim", *images, *extra)


def verify(capsys, config, *extra):
    return run_cli(capsys, "verify", "--config", str(config), "-e", "sim", "--json", *extra)


def test_a_deploy_under_30_percent_throttling_succeeds(
    capsys, sandbox, environment, ecs, s3, tmp_path
):
    config = write_config(tmp_path, environment)
    sandbox.policy(
        {
            "services": {"*": {"converge_seconds": 0.3}},
            "tasks": {"*": {"run_seconds": 0.2}},
            "faults": {"seed": SEED, "operations": {name: {"throttle": 0.3} for name in THROTTLED}},
        }
    )
    sandbox.reset_calls()
    before = running_task_definitions(environment, ecs)

    ran = deploy(capsys, config, environment, "v2")

    assert ran.code == 0, ran.err
    after = running_task_definitions(environment, ecs)
    assert all(after[key] != before[key] for key in before)
    [record] = records(environment, s3)
    assert record["status"] == "succeeded"
    faults, calls = sandbox.faults(), sandbox.calls()
    for name in THROTTLED:
        throttled = faults.get(f"{name} 400 ThrottlingException", 0)
        assert throttled >= 1, faults
        assert calls[name] > throttled  # every throttled call was retried until it went through
    assert not lock_exists(environment, s3)


def test_a_flapping_endpoint_never_gives_the_successes_in_a_row(
    capsys, sandbox, environment, tmp_path
):
    web = environment.services["web"]
    sandbox.policy({"faults": {"health": {web: {"flap": "alternate"}}}})
    health = {"timeout": 1.0, "interval": 0.05, "successes": 2, "request_timeout": 1}
    config = write_config(tmp_path, environment, health=health)

    ran = verify(capsys, config)

    assert ran.code == 1, ran.err
    results = {r["service"]: r for r in ran.json()["results"]}
    assert results["api"]["ok"] is True
    assert results["web"]["ok"] is False
    # Half of its answers were 2xx, never two in a row.
    assert results["web"]["attempts"] >= 4
    assert sandbox.faults()[f"health {environment.cluster}/{web} 503"] >= 2

    # One success is enough when the rule asks for one: the flap let 2xx answers through.
    config = write_config(tmp_path, environment, health={**health, "successes": 1})
    assert verify(capsys, config).code == 0


def test_a_deploy_on_a_flapping_endpoint_is_not_a_success(
    capsys, sandbox, environment, ecs, s3, tmp_path
):
    web = environment.services["web"]
    sandbox.policy({"faults": {"health": {web: {"flap": "alternate"}}}})
    health = {"timeout": 0.8, "interval": 0.05, "successes": 3, "request_timeout": 1}
    config = write_config(tmp_path, environment, health=health)

    ran = deploy(capsys, config, environment, "v2")

    # Verification fails, and so does the rollback's own verification of the same endpoint:
    # nothing is called healthy that never answered 3 times in a row.
    assert ran.code == 3, ran.err
    [record] = records(environment, s3)
    assert record["status"] == "rollback_failed"
    assert record["error"].count("not 3 2xx answers in a row") == 2
    verdicts = {h["service"]: h["ok"] for h in record["health"]}
    assert verdicts["web"] is False and verdicts["api"] is True
    assert not lock_exists(environment, s3)


def test_a_hanging_endpoint_is_cut_at_the_request_timeout_and_retried(
    capsys, sandbox, environment, tmp_path
):
    web = environment.services["web"]
    sandbox.policy({"faults": {"health": {web: {"hang_seconds": 5}}}})
    health = {"timeout": 1.5, "interval": 0.05, "successes": 2, "request_timeout": 0.3}
    config = write_config(tmp_path, environment, health=health)

    ran = verify(capsys, config, "--service", "web")

    assert ran.code == 1, ran.err
    [result] = ran.json()["results"]
    assert result["ok"] is False and result["status"] is None
    # Each request gave up at the request timeout (a 5 s hang would allow only one attempt).
    assert result["attempts"] >= 3
    assert "timed out" in result["error"].lower() or "timeout" in result["error"].lower()
    assert sandbox.faults()[f"health {environment.cluster}/{web} hang"] == result["attempts"]
