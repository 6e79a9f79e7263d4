"""Bad `--image` and `--task-definition` arguments of `shipline deploy` against the sandbox.

The only outcomes: a dry run that succeeds, or exit 2 with a reason; never a traceback, and
never a change in the sandbox (task-definition revisions, release records, the lock). Dry runs
keep the examples fast and run the whole preflight; a refused real deploy is checked too.
"""

from __future__ import annotations

import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from support.deploy_support import lock_exists, records, revision_count, write_config
from support.fuzz_support import assert_succeeds_or_refuses, run_main

FUZZ = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
KEYS = ["api", "web", "worker", "billing-worker", "", "API", "api ", "nope"]
REFERENCE_ALPHABET = string.ascii_letters + string.digits + ":/@.-_+ %\n\t=é"


def mutate(text: str, draw: st.DrawFn) -> str:
    """Insert, delete or replace a few characters of `text`."""
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        at = draw(st.integers(min_value=0, max_value=len(text)))
        action = draw(st.sampled_from(["insert", "delete", "replace"]))
        char = draw(st.sampled_from(REFERENCE_ALPHABET))
        if action == "insert":
            text = text[:at] + char + text[at:]
        elif action == "delete":
            text = text[:at] + text[at + 1 :]
        else:
            text = text[:at] + char + text[at + 1 :]
    return text


@st.composite
def assignments(draw: st.DrawFn, valid_values: list[str]) -> str:
    key = draw(st.sampled_from(KEYS) | st.text(max_size=6))
    value = draw(st.sampled_from(valid_values) | st.text(alphabet=REFERENCE_ALPHABET, max_size=40))
    if draw(st.booleans()):
        value = mutate(value, draw)
    separator = draw(st.sampled_from(["=", "=", "==", ":", ""]))
    return f"{key}{separator}{value}"


@pytest.fixture
def state(sandbox, environment):
    ecs, s3 = sandbox.client("ecs"), sandbox.client("s3")

    def snapshot():
        return (
            revision_count(environment, ecs),
            len(records(environment, s3)),
            lock_exists(environment, s3),
        )

    return snapshot


def assert_no_change(state, before, outcome):
    assert state() == before, f"the sandbox changed (exit {outcome.code}): {outcome.err[-1500:]}"


def deploy_argv(config, option, values, dry_run=True):
    argv = ["deploy", "--config", str(config), "-e", "sim"]
    argv += [f"{option}={value}" for value in values]
    return [*argv, "--dry-run"] if dry_run else argv


def test_fuzz_images(sandbox, environment, state, tmp_path, capsys):
    config = write_config(tmp_path, environment)
    valid = [environment.image("api", "v2"), environment.image("web", "v3"), "nginx:1.27"]
    before = state()

    @FUZZ
    @given(values=st.lists(assignments(valid), min_size=1, max_size=3))
    def check(values):
        outcome = run_main(capsys, deploy_argv(config, "--image", values))
        assert_succeeds_or_refuses(outcome)
        assert_no_change(state, before, outcome)

    check()


def test_fuzz_task_definitions(sandbox, environment, state, tmp_path, capsys):
    config = write_config(tmp_path, environment)
    valid = [*environment.task_definitions.values(), f"{environment.families['api']}:1"]
    before = state()

    @FUZZ
    @given(values=st.lists(assignments(valid), min_size=1, max_size=3))
    def check(values):
        outcome = run_main(capsys, deploy_argv(config, "--task-definition", values))
        assert_succeeds_or_refuses(outcome)
        assert_no_change(state, before, outcome)

    check()


def test_valid_dry_runs_pass_and_refused_real_deploys_change_nothing(
    sandbox, environment, state, tmp_path, capsys
):
    config = write_config(tmp_path, environment)
    before = state()
    # The fuzzed values start from ones that pass; otherwise the fuzzing proves little.
    valid = [f"api={environment.image('api', 'v2')}"]
    assert run_main(capsys, deploy_argv(config, "--image", valid)).code == 0
    valid = [f"web={environment.task_definitions['web']}"]
    assert run_main(capsys, deploy_argv(config, "--task-definition", valid)).code == 0
    for values in (["api=UPPER/Case:tag"], ["api=registry/api@sha256:12"], ["ghost=nginx:1"]):
        outcome = run_main(capsys, deploy_argv(config, "--image", values, dry_run=False))
        assert outcome.code == 2, outcome.err
        assert_succeeds_or_refuses(outcome)
        assert_no_change(state, before, outcome)
