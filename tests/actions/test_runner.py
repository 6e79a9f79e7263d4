"""The composite-action runner itself: it must behave as GitHub's runner does where the actions
rely on it, and refuse loudly where it does not model GitHub."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from actions.runner import UnsupportedError, parse_command_file, run_action


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
