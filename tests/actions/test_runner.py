"""The composite-action runner itself: it must behave as GitHub's runner does where the actions
rely on it, and refuse loudly where it does not model GitHub."""

from __future__ import annotations

import re
import signal
import sys
import textwrap
from pathlib import Path

import pytest

from support.actions.runner import Cancel, UnsupportedError, parse_command_file, run_action
from support.sim_sandbox import wait_for


def action(tmp_path: Path, body: str) -> Path:
    folder = tmp_path / "action"
    folder.mkdir(exist_ok=True)
    (folder / "action.yml").write_text(textwrap.dedent(body), encoding="utf-8")
    return folder


FLOW = """\
name: flow
description: outputs, env and path flowing between steps
inputs:
  who:
    description: a name
    required: true
  greeting:
    description: has a default
    default: hello
outputs:
  message:
    description: the message
    value: ${{ steps.second.outputs.message }}
  where:
    description: the action's own path
    value: ${{ github.action_path }}
runs:
  using: composite
  steps:
    - name: Setup a tool
      uses: actions/setup-python@5fda3b95a4ea91299a34e894583c3862153e4b97 # v7.0.0
      with:
        python-version: ${{ inputs.greeting }}
    - id: first
      shell: bash
      env:
        WHO: ${{ inputs.who }}
        GREETING: ${{ inputs.greeting }}
      run: |
        echo "text=${GREETING}, ${WHO}" >> "$GITHUB_OUTPUT"
        printf 'LONG<<EOF\\nline one\\nline two\\nEOF\\n' >> "$GITHUB_ENV"
        mkdir -p "$RUNNER_TEMP/bin"
        printf '#!/bin/sh\\necho from-path\\n' > "$RUNNER_TEMP/bin/tool-on-path"
        chmod +x "$RUNNER_TEMP/bin/tool-on-path"
        echo "$RUNNER_TEMP/bin" >> "$GITHUB_PATH"
        echo "INPUT vars: $(env | grep -c '^INPUT_' || true)"
    - id: second
      shell: bash
      env:
        TEXT: ${{ steps.first.outputs.text }}
      run: |
        echo "message=${TEXT}! $(tool-on-path) ${LONG//$'\\n'/+}" >> "$GITHUB_OUTPUT"
        echo "### ${TEXT}" >> "$GITHUB_STEP_SUMMARY"
    - name: Only when the greeting is changed
      if: inputs.greeting != 'hello'
      shell: bash
      run: echo changed >> "$GITHUB_STEP_SUMMARY"
"""


def test_outputs_env_path_and_summary_flow_between_steps(tmp_path):
    run = run_action(action(tmp_path, FLOW), {"who": "world"}, workspace=tmp_path)
    assert run.exit_code == 0, run.log
    assert run.outputs["message"] == "hello, world! from-path line one+line two"
    assert run.outputs["where"] == str(tmp_path / "action")
    assert run.summary == "### hello, world\n"
    assert run.env == {"LONG": "line one\nline two"}
    assert run.step("second").outputs == {"message": run.outputs["message"]}


def test_third_party_steps_are_listed_not_run_and_inputs_are_no_env_vars(tmp_path):
    run = run_action(
        action(tmp_path, FLOW),
        {"who": "x", "greeting": "HELLO"},
        env={"PATH": "/usr/bin:/bin", "INPUT_WHO": "leaked"},
        workspace=tmp_path,
    )
    assert run.skipped_uses == [
        "actions/setup-python@5fda3b95a4ea91299a34e894583c3862153e4b97",
    ]
    assert "INPUT vars: 0" in run.step("first").log  # GitHub sets none in composite actions
    # GitHub compares strings ignoring case: 'HELLO' != 'hello' is false.
    assert run.steps[3].skipped == "condition false"


def test_a_failed_step_skips_the_rest_except_always_and_failure(tmp_path):
    folder = action(
        tmp_path,
        """\
        name: failing
        description: x
        runs:
          using: composite
          steps:
            - id: broken
              shell: bash
              run: |
                echo "partial=yes" >> "$GITHUB_OUTPUT"
                exit 3
            - id: normal
              shell: bash
              run: echo never
            - id: cleanup
              if: always()
              shell: bash
              run: echo cleanup ran
            - id: report
              if: ${{ failure() }}
              shell: bash
              run: echo failure seen
        """,
    )
    run = run_action(folder, {}, workspace=tmp_path)
    assert run.exit_code == 3
    assert run.step("broken").outputs == {"partial": "yes"}  # written before it failed
    assert run.step("normal").skipped == "an earlier step failed"
    assert "cleanup ran" in run.step("cleanup").log
    assert "failure seen" in run.step("report").log


@pytest.mark.parametrize(
    ("step", "message"),
    [
        ("env: {X: '${{ github.token }}'}", "context 'github.token' is not supported"),
        ("env: {X: '${{ format(''{0}'', inputs.a) }}'}", "unsupported expression form"),
        ("env: {X: '${{ inputs.missing }}'}", "inputs.missing is not an input"),
        ("env: {X: '${{ steps.nope.outputs.x }}'}", "no step with id 'nope'"),
        ("if: inputs.a == true", "comparison of different types"),
        ("if: hashFiles('x') != ''", "function hashFiles() is not supported"),
        ("continue-on-error: true", "unsupported keys ['continue-on-error']"),
    ],
)
def test_unsupported_forms_fail_loudly(tmp_path, step, message):
    folder = action(
        tmp_path,
        f"""\
        name: odd
        description: x
        inputs:
          a: {{description: a, default: "1"}}
        runs:
          using: composite
          steps:
            - shell: bash
              {step}
              run: echo hi
        """,
    )
    with pytest.raises(UnsupportedError, match=re.escape(message)):
        run_action(folder, {}, workspace=tmp_path)


def test_inputs_are_checked_like_a_careful_runner(tmp_path):
    folder = action(tmp_path, FLOW)
    with pytest.raises(UnsupportedError, match="required input 'who' not given"):
        run_action(folder, {}, workspace=tmp_path)
    with pytest.raises(UnsupportedError, match="not declared by the action: typo"):
        run_action(folder, {"who": "x", "typo": "y"}, workspace=tmp_path)


def test_command_files_are_read_in_both_forms():
    text = "a=1\nb<<END\nx\ny=z\nEND\nc=with=equals\n"
    assert parse_command_file(text) == {"a": "1", "b": "x\ny=z", "c": "with=equals"}
    with pytest.raises(ValueError, match="no closing delimiter"):
        parse_command_file("b<<END\nx\n")


# --- cancelling a run, as GitHub's runner does ---------------------------------------------------

CANCELLED = """\
name: cancelled
description: a step that is cancelled, and what runs after it
runs:
  using: composite
  steps:
    - id: long
      shell: bash
      run: |
        trap 'echo "bash got INT"; exit 7' INT
        echo started
        sleep 30 &
        wait
    - id: normal
      shell: bash
      run: echo never
    - id: cleanup
      if: always()
      shell: bash
      run: echo cleanup ran
    - id: on-cancel
      if: cancelled()
      shell: bash
      run: echo cancel seen
    - id: on-failure
      if: failure()
      shell: bash
      run: echo never
"""


def test_a_cancel_sends_sigint_to_the_steps_process_and_runs_only_always_and_cancelled(
    tmp_path,
):
    run = run_action(
        action(tmp_path, CANCELLED),
        {},
        workspace=tmp_path,
        cancel=Cancel("long", lambda log: "started" in log),
    )
    assert run.cancelled
    long = run.step("long")
    assert long.signals == ["SIGINT"]  # the trap ended the step before SIGTERM was due
    assert "bash got INT" in long.log
    assert long.exit_code == 7
    assert run.step("normal").skipped == "the run was cancelled"
    assert "cleanup ran" in run.step("cleanup").log
    assert "cancel seen" in run.step("on-cancel").log
    assert run.step("on-failure").skipped == "the run was cancelled"


SIGNAL_RECORDER = """\
import os, signal, sys, time
log = sys.argv[1]
def note(signum, _frame):
    with open(log, "a") as handle:
        handle.write(signal.Signals(signum).name + "\\n")
for sig in (signal.SIGINT, signal.SIGTERM):
    signal.signal(sig, note)
with open(log, "a") as handle:
    handle.write(f"pid {os.getpid()}\\n")
print("child running", flush=True)
while True:
    time.sleep(0.1)
"""


def test_bash_does_not_pass_the_cancel_on_and_the_job_end_kills_what_is_left(tmp_path):
    """The trap the actions must avoid: a command run by the step's script never hears of the
    cancel (bash waits for it through SIGINT, dies of SIGTERM); the job's end kills it."""
    recorder = tmp_path / "recorder.py"
    recorder.write_text(SIGNAL_RECORDER, encoding="utf-8")
    seen = tmp_path / "seen.log"
    folder = action(
        tmp_path,
        f"""\
        name: foreground child
        description: x
        runs:
          using: composite
          steps:
            - id: child
              shell: bash
              run: {sys.executable} {recorder} {seen}
        """,
    )
    run = run_action(
        folder, {}, workspace=tmp_path, cancel=Cancel("child", lambda log: "child running" in log)
    )
    step = run.step("child")
    assert step.signals == ["SIGINT", "SIGTERM"]  # bash outlived SIGINT, not SIGTERM
    assert step.exit_code == -signal.SIGTERM
    lines = seen.read_text().splitlines()
    assert lines[1:] == []  # the child heard nothing
    pid = int(lines[0].split()[1])
    wait_for(lambda: not alive(pid), timeout=5)


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_a_cancel_that_never_happens_fails_the_run_loudly(tmp_path):
    with pytest.raises(UnsupportedError, match="the cancel of step 'long' never happened"):
        run_action(
            action(tmp_path, CANCELLED.replace("sleep 30 &", "true &")),
            {},
            workspace=tmp_path,
            cancel=Cancel("long", lambda log: "never printed" in log),
        )
