"""A workflow run as GitHub plays it, with every expression evaluated by GitHub's own engine.

What it models (the rules in shared/reference/github-runtime.md and GitHub's documentation):
- Jobs start when every job they `need` is done, in the order of the `needs` graph.
- A job-level `if:` without a status function is `success() && (<if>)`; no `if:` is `success()`.
  At job level `success()` is true only when EVERY ancestor in the needs graph succeeded,
  transitively (actions/runner#2205); `failure()` when any ancestor failed; `cancelled()` when
  the run was cancelled; `always()` always. A job whose `if` is false is `skipped`.
- A job that runs ends with the result the scenario gives it (`success` by default); a matrix
  job counts as one result. Its steps' `if:`s are evaluated in order (step-level `success()`:
  no earlier step failed), its outputs from the step outputs the scenario gives.
- A job that calls a reusable workflow (`uses:`) evaluates its `with:` in the caller's contexts,
  and the called workflow's jobs run inside it with those values as `inputs` (typed and
  defaulted by its `workflow_call` inputs), under the caller's `github` context. The caller job
  fails when a called job failed.
- Each expression sees only the contexts GitHub makes available at that place (the "Context
  availability" table of GitHub's contexts reference): anything else is an error, as on GitHub.

Anything the model does not cover (env: at workflow or job level, a remote reusable workflow)
raises NotModelled: a test must never pass because the model silently did less than GitHub.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from support.actions.engine import Request, Status, engine

REPO = Path(__file__).resolve().parents[3]
WORKFLOWS = REPO / ".github" / "workflows"

# GitHub's contexts reference, "Context availability": the contexts each place may use.
AVAILABLE = {
    "run-name": ("github", "inputs", "vars"),
    "concurrency": ("github", "inputs", "vars"),
    "jobs.if": ("github", "needs", "vars", "inputs"),
    "jobs.concurrency": ("github", "needs", "strategy", "matrix", "inputs", "vars"),
    "jobs.environment": ("github", "needs", "strategy", "matrix", "vars", "inputs"),
    "jobs.environment.url": (
        "github", "needs", "strategy", "matrix", "job", "runner", "env", "vars", "steps",
        "inputs",
    ),
    "jobs.with": ("github", "needs", "strategy", "matrix", "inputs", "vars"),
    "jobs.steps.if": (
        "github", "needs", "strategy", "matrix", "job", "runner", "env", "vars", "steps",
        "inputs",
    ),
    "jobs.steps.with": (
        "github", "needs", "strategy", "matrix", "job", "runner", "env", "vars", "secrets",
        "steps", "inputs",
    ),
    "jobs.steps.env": (
        "github", "needs", "strategy", "matrix", "job", "runner", "env", "vars", "secrets",
        "steps", "inputs",
    ),
    "jobs.outputs": (
        "github", "needs", "strategy", "matrix", "job", "runner", "env", "vars", "secrets",
        "steps", "inputs",
    ),
    "workflow_call.outputs": ("github", "jobs", "vars", "inputs"),
}  # fmt: skip

RESULTS = ("success", "failure", "cancelled", "skipped")
REPOSITORY = "acme/shop"


class NotModelled(Exception):
    """The workflow uses a form this model does not play; extend the model deliberately."""


@dataclass
class Scenario:
    """What starts a run, and how each job and step that runs ends.

    Job paths name a job of the started workflow (`deploy`) or a job of a workflow called by one
    (`deploy/deploy`: job `deploy` of the workflow called by job `deploy`).
    """

    workflow: str
    event: str
    ref: str = "refs/heads/main"
    inputs: dict[str, Any] = field(default_factory=dict)
    vars: dict[str, str] = field(default_factory=dict)  # the repository's variables
    environments: dict[str, dict[str, str]] = field(default_factory=dict)  # name -> its vars
    secrets: dict[str, str] = field(default_factory=dict)
    results: dict[str, str] = field(default_factory=dict)  # job path -> result when it runs
    step_outputs: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)
    step_outcomes: dict[str, dict[str, str]] = field(default_factory=dict)  # path -> id -> outcome
    run_cancelled: bool = False
    run_id: int = 1000
    folder: Path = WORKFLOWS  # where the workflow files are


@dataclass
class JobRun:
    path: str
    result: str
    inputs: dict[str, Any]  # the `inputs` context the job saw
    outputs: dict[str, Any] = field(default_factory=dict)
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> outcome, outputs
    concurrency: dict[str, Any] | None = None  # group, cancel-in-progress (evaluated)
    environment: dict[str, Any] | None = None  # name, url (evaluated)
    timeout_minutes: int | None = None
    called: dict[str, Any] | None = None  # with: values given to a called workflow
    called_concurrency: dict[str, Any] | None = None  # the called workflow's own group
    contexts: dict[str, Any] = field(default_factory=dict)  # what its steps see (after them)


@dataclass
class Run:
    scenario: Scenario
    run_name: str | None
    concurrency: dict[str, Any] | None
    jobs: dict[str, JobRun]

    def result(self, path: str) -> str:
        if path not in self.jobs:
            raise KeyError(f"no job {path!r} in this run; jobs: {sorted(self.jobs)}")
        return self.jobs[path].result

    def ran(self, path: str) -> bool:
        return self.result(path) != "skipped"

    def running(self) -> set[str]:
        return {path for path, job in self.jobs.items() if job.result != "skipped"}

    def evaluate(self, path: str, text: Any, place: str) -> Any:
        """A value of job `path` (a step's env: or with:), in the contexts its steps saw."""
        job = self.jobs[path]
        if not job.contexts:
            raise NotModelled(f"{path} did not run steps ({job.result})")
        return _value(text, job.contexts, place)


def load(name: str, folder: Path = WORKFLOWS) -> dict[str, Any]:
    document = yaml.safe_load((folder / name).read_text(encoding="utf-8"))
    document["on"] = document.pop(True, document.get("on"))  # YAML 1.1 reads `on` as True
    return document


def called_workflow(uses: str) -> str:
    """The file name of a workflow of this repository called by `uses:`."""
    for prefix in ("$/.github/workflows/", "./.github/workflows/"):
        if uses.startswith(prefix):
            return uses.removeprefix(prefix)
    raise NotModelled(f"reusable workflow from another repository: {uses}")


def play(scenario: Scenario) -> Run:
    """Every job of the run started by `scenario`, with its result."""
    document = load(scenario.workflow, scenario.folder)
    triggers = document["on"] or {}
    if scenario.event not in triggers:
        raise NotModelled(f"{scenario.workflow} is not started by {scenario.event}")
    inputs: dict[str, Any] = {}
    if scenario.event == "workflow_dispatch":
        inputs = typed_inputs(
            (triggers["workflow_dispatch"] or {}).get("inputs") or {},
            scenario.inputs,
            scenario.workflow,
        )
    elif scenario.inputs:
        raise NotModelled(f"a {scenario.event} event carries no inputs")
    github = github_context(scenario, document)
    top = {"github": github, "inputs": inputs, "vars": scenario.vars}
    run_name = _value(document.get("run-name"), top, "run-name")
    concurrency = _concurrency(document.get("concurrency"), top, "concurrency")
    jobs: dict[str, JobRun] = {}
    _play_workflow(document, "", github, inputs, scenario, jobs)
    return Run(scenario, run_name, concurrency, jobs)


def github_context(scenario: Scenario, document: dict[str, Any]) -> dict[str, Any]:
    ref_type = "tag" if scenario.ref.startswith("refs/tags/") else "branch"
    ref_name = scenario.ref.split("/", 2)[2]
    return {
        "event_name": scenario.event,
        "ref": scenario.ref,
        "ref_name": ref_name,
        "ref_type": ref_type,
        "repository": REPOSITORY,
        "repository_owner": REPOSITORY.split("/")[0],
        "workflow": document.get("name") or scenario.workflow,
        "run_id": str(scenario.run_id),
        "run_attempt": "1",
        "sha": "0123456789abcdef0123456789abcdef01234567",
        "actor": "octocat",
        "token": "***",
        "event": {},
    }


def typed_inputs(declared: Mapping[str, Any], given: Mapping[str, Any], where: str) -> dict:
    """The `inputs` context: each declared input given or defaulted, with its declared type."""
    unknown = set(given) - set(declared)
    if unknown:
        raise NotModelled(f"{where}: inputs not declared: {sorted(unknown)}")
    values: dict[str, Any] = {}
    for name, spec in declared.items():
        spec = spec or {}
        kind = spec.get("type", "string")
        if name in given:
            value = given[name]
        elif spec.get("required"):
            raise NotModelled(f"{where}: required input {name!r} not given")
        else:
            value = spec.get("default", False if kind == "boolean" else "")
        if kind == "boolean":
            if not isinstance(value, bool):
                raise NotModelled(f"{where}: input {name} is a boolean, got {value!r}")
        elif kind == "number":
            value = float(value)
        else:
            value = _text(value)
        values[name] = value
    return values


def _status(
    needs: Mapping[str, set[str]],
    jobs: Mapping[str, JobRun],
    job_id: str,
    prefix: str,
    scenario: Scenario,
) -> Status:
    ancestors = _ancestors(needs, job_id)
    results = [jobs[prefix + ancestor].result for ancestor in ancestors]
    return Status(
        success=not scenario.run_cancelled and all(r == "success" for r in results),
        failure=any(r == "failure" for r in results),
        cancelled=scenario.run_cancelled,
    )


def _ancestors(needs: Mapping[str, set[str]], job_id: str) -> set[str]:
    found: set[str] = set()
    pending = list(needs[job_id])
    while pending:
        ancestor = pending.pop()
        if ancestor not in found:
            found.add(ancestor)
            pending.extend(needs[ancestor])
    return found


def _needs_of(job: dict[str, Any]) -> set[str]:
    needs = job.get("needs") or []
    return {needs} if isinstance(needs, str) else set(needs)


def _play_workflow(
    document: dict[str, Any],
    prefix: str,
    github: dict[str, Any],
    inputs: dict[str, Any],
    scenario: Scenario,
    jobs: dict[str, JobRun],
) -> list[str]:
    """Plays every job of `document` into `jobs` (paths under `prefix`); their ids in order."""
    if document.get("env"):
        raise NotModelled("env: at workflow level")
    spec = document.get("jobs") or {}
    needs = {job_id: _needs_of(job) for job_id, job in spec.items()}
    done: list[str] = []
    while len(done) < len(spec):
        ready = [j for j in spec if j not in done and needs[j] <= set(done)]
        if not ready:
            raise NotModelled(f"the needs graph has a cycle or an unknown job: {needs}")
        for job_id in ready:
            _play_job(job_id, spec[job_id], needs, prefix, github, inputs, scenario, jobs)
            done.append(job_id)
    return done


def _play_job(
    job_id: str,
    job: dict[str, Any],
    needs: Mapping[str, set[str]],
    prefix: str,
    github: dict[str, Any],
    inputs: dict[str, Any],
    scenario: Scenario,
    jobs: dict[str, JobRun],
) -> None:
    path = prefix + job_id
    if job.get("env"):
        raise NotModelled(f"{path}: env: at job level")
    needs_context = {
        need: {"result": jobs[prefix + need].result, "outputs": jobs[prefix + need].outputs}
        for need in needs[job_id]
    }
    base = {"github": github, "needs": needs_context, "inputs": inputs, "vars": scenario.vars}
    status = _status(needs, jobs, job_id, prefix, scenario)
    runs = _condition(job.get("if"), _only(base, "jobs.if"), status)
    if not runs:
        jobs[path] = JobRun(path, "skipped", inputs)
        return
    with_matrix = {**base, "strategy": {}, "matrix": {}}
    if "uses" in job:
        _play_call(path, job, with_matrix, github, scenario, jobs)
        return
    result = scenario.results.get(path, "success")
    if result not in RESULTS[:3]:
        raise NotModelled(f"{path}: a job that runs ends in success, failure or cancelled")
    environment = _environment(job.get("environment"), with_matrix, scenario)
    job_vars = {**scenario.vars, **scenario.environments.get((environment or {}).get("name"), {})}
    in_job = {
        **with_matrix,
        "vars": job_vars,
        "job": {"status": result},
        "runner": {"os": "Linux", "temp": "/home/runner/work/_temp"},
        "env": {},
        "secrets": scenario.secrets,
    }
    steps = _play_steps(path, job, in_job, scenario)
    in_job["steps"] = steps
    if environment is not None and "url" in environment:
        environment["url"] = _value(
            environment["url"], _only(in_job, "jobs.environment.url"), "jobs.environment.url"
        )
    jobs[path] = JobRun(
        path,
        result,
        inputs,
        outputs=_strings(_mapping(job.get("outputs"), _only(in_job, "jobs.outputs"))),
        steps=steps,
        concurrency=_concurrency(
            job.get("concurrency"), _only(in_job, "jobs.concurrency"), "jobs.concurrency"
        ),
        environment=environment,
        timeout_minutes=job.get("timeout-minutes", 360),
        contexts=in_job,
    )


def _play_call(
    path: str,
    job: dict[str, Any],
    contexts: dict[str, Any],
    github: dict[str, Any],
    scenario: Scenario,
    jobs: dict[str, JobRun],
) -> None:
    name = called_workflow(str(job["uses"]))
    called = load(name, scenario.folder)
    if "workflow_call" not in (called["on"] or {}):
        raise AssertionError(f"{path}: {name} has no workflow_call trigger, so it cannot be called")
    given = _mapping(job.get("with"), _only(contexts, "jobs.with"))
    declared = (called["on"]["workflow_call"] or {}).get("inputs") or {}
    inputs = typed_inputs(declared, given, f"{path} -> {name}")
    inner = _play_workflow(called, path + "/", github, inputs, scenario, jobs)
    results = [jobs[f"{path}/{job_id}"].result for job_id in inner]
    result = next((r for r in ("failure", "cancelled") if r in results), "success")
    jobs_context = {
        job_id: {
            "result": jobs[f"{path}/{job_id}"].result,
            "outputs": jobs[f"{path}/{job_id}"].outputs,
        }
        for job_id in inner
    }
    outputs_spec = (called["on"]["workflow_call"] or {}).get("outputs") or {}
    out_contexts = {"github": github, "jobs": jobs_context, "vars": scenario.vars, "inputs": inputs}
    outputs = _strings(
        {
            key: _value((spec or {}).get("value", ""), out_contexts, "workflow_call.outputs")
            for key, spec in outputs_spec.items()
        }
    )
    top = {"github": github, "inputs": inputs, "vars": scenario.vars}
    jobs[path] = JobRun(
        path,
        result,
        contexts["inputs"],
        outputs=outputs,
        called=given,
        called_concurrency=_concurrency(called.get("concurrency"), top, "concurrency"),
        concurrency=_concurrency(
            job.get("concurrency"), _only(contexts, "jobs.concurrency"), "jobs.concurrency"
        ),
    )


def _play_steps(
    path: str, job: dict[str, Any], contexts: dict[str, Any], scenario: Scenario
) -> dict[str, dict[str, Any]]:
    """Each step's `if:` in order; outcome and outputs of the steps with an id."""
    steps: dict[str, dict[str, Any]] = {}
    given_outputs = scenario.step_outputs.get(path, {})
    given_outcomes = scenario.step_outcomes.get(path, {})
    known = {str(step.get("id")) for step in job.get("steps") or [] if step.get("id")}
    for unknown in (set(given_outputs) | set(given_outcomes)) - known:
        raise NotModelled(f"{path}: the scenario names step {unknown!r}, which the job lacks")
    failed = False
    for step in job.get("steps") or []:
        step_id = step.get("id")
        status = Status(
            success=not failed and not scenario.run_cancelled,
            failure=failed,
            cancelled=scenario.run_cancelled,
        )
        visible = _only({**contexts, "steps": steps}, "jobs.steps.if")
        if _condition(step.get("if"), visible, status):
            outcome = given_outcomes.get(step_id, "success")
            outputs = dict(given_outputs.get(step_id, {}))
        else:
            outcome, outputs = "skipped", {}
        failed = failed or outcome == "failure"
        if step_id:
            steps[step_id] = {"outcome": outcome, "conclusion": outcome, "outputs": outputs}
    return steps


def _environment(raw: Any, contexts: dict[str, Any], scenario: Scenario) -> dict[str, Any] | None:
    if raw is None:
        return None
    spec = raw if isinstance(raw, dict) else {"name": raw}
    found = {"name": _value(spec["name"], _only(contexts, "jobs.environment"), "jobs.environment")}
    if "url" in spec:
        found["url"] = spec["url"]  # evaluated after the steps, with their outputs
    return found


def _concurrency(raw: Any, contexts: Mapping[str, Any], place: str) -> dict[str, Any] | None:
    if raw is None:
        return None
    spec = raw if isinstance(raw, dict) else {"group": raw}
    return {
        "group": _value(spec["group"], contexts, place),
        "cancel-in-progress": _value(spec.get("cancel-in-progress", False), contexts, place),
    }


def _only(contexts: Mapping[str, Any], place: str) -> dict[str, Any]:
    return {name: contexts[name] for name in AVAILABLE[place] if name in contexts}


def _condition(raw: Any, contexts: dict[str, Any], status: Status) -> bool:
    text = "" if raw is None else str(raw).lower() if isinstance(raw, bool) else str(raw)
    [value] = engine().evaluate([Request(text, contexts, "if", status)])
    return bool(value)


def _value(raw: Any, contexts: Mapping[str, Any], place: str) -> Any:
    if raw is None or not isinstance(raw, str):
        return raw
    contexts = _only(contexts, place)
    [value] = engine().evaluate([Request(raw, contexts)])
    return value


def _mapping(raw: Mapping[str, Any] | None, contexts: Mapping[str, Any]) -> dict[str, Any]:
    items = list((raw or {}).items())
    strings = [(key, value) for key, value in items if isinstance(value, str)]
    values = engine().evaluate([Request(value, contexts) for _, value in strings])
    found = {key: value for key, value in items if not isinstance(value, str)}
    found.update({key: value for (key, _), value in zip(strings, values, strict=True)})
    return {key: found[key] for key, _ in items}


def _text(value: Any) -> str:
    """A value as GitHub turns it into a string (job outputs, string inputs)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "" if value is None else str(value)


def _strings(values: Mapping[str, Any]) -> dict[str, str]:
    return {key: _text(value) for key, value in values.items()}
