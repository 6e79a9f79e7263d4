"""The harness of the workflow tests: GitHub's expression engine and the run model keep GitHub's
rules (shared/reference/github-runtime.md), shown on small workflows written for the purpose."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from support.actions import engine
from support.actions.concurrency import Groups
from support.actions.engine import ExpressionError, Status
from support.actions.run_model import NotModelled, Scenario, play

ALL_GOOD = Status(success=True, failure=False, cancelled=False)
SOME_SKIPPED = Status(success=False, failure=False, cancelled=False)


def workflow(tmp_path: Path, text: str) -> Scenario:
    (tmp_path / "graph.yml").write_text(textwrap.dedent(text), encoding="utf-8")
    return Scenario("graph.yml", "push", folder=tmp_path)


# --- the engine --------------------------------------------------------------------------------


def test_a_condition_without_a_status_function_also_needs_success():
    needs = {"needs": {"build": {"result": "skipped"}}}
    assert engine.condition("needs.build.result == 'skipped'", needs, ALL_GOOD)
    assert not engine.condition("needs.build.result == 'skipped'", needs, SOME_SKIPPED)
    assert engine.condition("${{ !failure() && needs.build.result == 'skipped' }}", needs,
                            SOME_SKIPPED)  # fmt: skip
    assert not engine.condition("", needs, SOME_SKIPPED)  # no if: success()


def test_values_keep_their_type_alone_and_become_text_in_a_template():
    contexts = {"inputs": {"flag": True, "name": "prod"}}
    assert engine.evaluate("${{ inputs.flag }}", contexts) is True
    assert engine.evaluate("run-${{ inputs.name }}-${{ inputs.flag }}", contexts) == "run-prod-true"
    assert engine.evaluate("plain {text}", contexts) == "plain {text}"


def test_github_compares_strings_ignoring_case_and_falls_back_with_or():
    contexts = {"inputs": {"registry": ""}, "vars": {"SHIPLINE_REGISTRY": "ECR.example"}}
    assert engine.evaluate("${{ inputs.registry || vars.SHIPLINE_REGISTRY || 'ghcr.io' }}",
                           contexts) == "ECR.example"  # fmt: skip
    assert engine.evaluate("${{ vars.SHIPLINE_REGISTRY == 'ecr.EXAMPLE' }}", contexts) is True


def test_a_context_not_available_in_that_place_is_an_error():
    with pytest.raises(ExpressionError, match="secrets"):
        engine.condition("secrets.TOKEN != ''", {"github": {}}, ALL_GOOD)
    with pytest.raises(ExpressionError, match="success"):
        engine.evaluate("${{ success() }}", {})  # no status function outside conditions


def test_a_missing_engine_fails_and_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setattr(engine, "PACKAGE", tmp_path / "missing" / "package.json")
    with pytest.raises(AssertionError, match="make test"):
        engine.Engine()


# --- status functions over the needs graph -------------------------------------------------------


def test_a_skipped_need_skips_a_job_with_no_status_function(tmp_path):
    # actions/runner#2205: build-a is skipped, so deploy's implicit success() is false.
    run = play(workflow(tmp_path, """
        on: push
        jobs:
          build-a: {if: "false", runs-on: x, steps: [{run: a}]}
          build-b: {runs-on: x, steps: [{run: b}]}
          deploy: {needs: [build-a, build-b], runs-on: x, steps: [{run: d}]}
          checked: {needs: [build-a, build-b], if: "${{ !cancelled() && !failure() }}",
                    runs-on: x, steps: [{run: c}]}
    """))  # fmt: skip
    assert run.result("build-a") == "skipped" and run.result("build-b") == "success"
    assert run.result("deploy") == "skipped"
    assert run.result("checked") == "success"


def test_success_looks_at_every_ancestor_not_only_the_direct_needs(tmp_path):
    run = play(workflow(tmp_path, """
        on: push
        jobs:
          a: {if: "false", runs-on: x, steps: [{run: a}]}
          b: {needs: a, if: always(), runs-on: x, steps: [{run: b}]}
          c: {needs: b, if: "needs.b.result == 'success'", runs-on: x, steps: [{run: c}]}
    """))  # fmt: skip
    assert run.result("b") == "success"
    assert run.result("c") == "skipped"  # the grand-parent was skipped


def test_failure_of_any_ancestor_is_seen_and_results_are_the_scenarios(tmp_path):
    scenario = workflow(tmp_path, """
        on: push
        jobs:
          a: {runs-on: x, steps: [{run: a}]}
          b: {needs: a, if: always(), runs-on: x, steps: [{run: b}]}
          report: {needs: b, if: failure(), runs-on: x, steps: [{run: r}]}
          ship: {needs: b, runs-on: x, steps: [{run: s}]}
    """)  # fmt: skip
    scenario.results = {"a": "failure"}
    run = play(scenario)
    assert [run.result(job) for job in ("a", "b", "report", "ship")] == [
        "failure", "success", "success", "skipped",
    ]  # fmt: skip


def test_a_called_workflow_runs_with_its_with_as_inputs(tmp_path):
    (tmp_path / "called.yml").write_text(textwrap.dedent("""
        on:
          workflow_call:
            inputs:
              target: {type: string, required: true}
              dry: {type: boolean, default: false}
        jobs:
          inner: {if: "${{ !inputs.dry }}", runs-on: x, steps: [{run: i}]}
    """), encoding="utf-8")  # fmt: skip
    run = play(workflow(tmp_path, """
        on: push
        jobs:
          call: {uses: ./.github/workflows/called.yml, with: {target: "${{ github.ref_name }}"}}
    """))  # fmt: skip
    assert run.jobs["call/inner"].inputs == {"target": "main", "dry": False}
    assert run.result("call/inner") == "success" and run.result("call") == "success"


def test_the_model_refuses_what_it_does_not_play(tmp_path):
    scenario = workflow(tmp_path, """
        on: push
        env: {A: b}
        jobs:
          a: {runs-on: x, steps: [{run: a}]}
    """)  # fmt: skip
    with pytest.raises(NotModelled):
        play(scenario)


# --- concurrency groups --------------------------------------------------------------------------


def test_a_group_keeps_one_running_and_one_pending_the_newest():
    groups = Groups()
    for entry in ("first", "second", "third"):
        groups.queue(entry, "release", cancel_in_progress=False)
    assert groups.started == ["first"] and groups.cancelled == ["second"]
    groups.finish("first")
    assert groups.started == ["first", "third"]
    groups.queue("own", None)
    assert groups.started[-1] == "own"
