"""The workflows' runs as GitHub plays them: every job-level `if:`, concurrency group, environment,
`with:` of a reusable workflow and the values a test names here are evaluated by GitHub's own
expression engine, with GitHub's job-level status functions (tests/actions/run_model.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from actions import run_model
from actions.concurrency import Groups
from actions.run_model import Run, Scenario, play

TAG = "refs/tags/v1.2.0"
ECR = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
DIGEST = "@sha256:" + "a" * 64
APP_URL = "https://app.example.com"
# A GitHub environment's own variables (Settings > Environments), seen by jobs that declare it.
PRODUCTION = {"AWS_REGION": "eu-west-1", "APP_PUBLIC_URL": "https://app.vars.example.com"}
# The deploy job's step outputs when it ran Terraform, then deployed its task definitions.
DEPLOYED = {
    "terraform": {"app-url": APP_URL, "task-definitions": "api=arn:api:7", "cluster": "shop"},
    "deploy-terraform": {"release-id": "20261201T120000Z-1a2b3c", "status": "succeeded"},
    "deploy-images": {"release-id": "20261201T120000Z-4d5e6f", "status": "succeeded"},
    "credentials": {"method": "oidc"},
}
# The build jobs of each registry kind, and what `shipline images plan` answers for it.
BUILDS = {
    "ghcr": ["build-ghcr"],
    "ecr": ["ecr-repositories", "build-ecr"],
    "other": ["build-other"],
}
PLANS = {
    "ghcr": {"registry": "ghcr.io", "image_prefix": "acme/shop"},
    "ecr": {"registry": ECR, "image_prefix": "agent-saas", "aws_region": "eu-west-1"},
    "other": {"registry": "registry.example.com", "image_prefix": "shop"},
}


def images(kind: str) -> dict[str, str]:
    base = f"{PLANS[kind]['registry']}/{PLANS[kind]['image_prefix']}"
    return {"api_image": f"{base}/api{DIGEST}", "web_image": f"{base}/web{DIGEST}"}


def build_run(kind: str, event: str = "push", **changes: Any) -> Scenario:
    """build-images.yml started by a `v*` tag push (or by hand), planning images of `kind`."""
    plan = {
        "kind": kind,
        "aws_region": "",
        "aws_account": "",
        "matrix": json.dumps({"include": [{"name": "api"}, {"name": "web"}]}),
        **PLANS[kind],
    }
    scenario = Scenario(
        "build-images.yml",
        event,
        ref=TAG if event == "push" else "refs/heads/main",
        vars={"SHIPLINE_REGISTRY": ECR} if kind == "ecr" else {},
        environments={"production": PRODUCTION},
        step_outputs={
            "plan": {"plan": plan},
            "summary": {"collect": images(kind)},
            "deploy/deploy": DEPLOYED,
        },
    )
    for key, value in changes.items():
        setattr(scenario, key, value)
    return scenario


def deployed(run: Run) -> set[str]:
    """The jobs of deploy.yml that ran inside the run."""
    return {path for path in run.running() if path.startswith("deploy/")}


# --- a tag push: tests, builds, then deploy ------------------------------------------------------


@pytest.mark.parametrize("kind", ["ghcr", "ecr", "other"])
def test_a_tag_push_deploys_the_images_it_built(kind):
    run = play(build_run(kind))
    for build in BUILDS[kind]:
        assert run.result(build) == "success"
    assert run.result("deploy") == "success", {p: j.result for p, j in run.jobs.items()}
    assert deployed(run) == {"deploy/deploy"}
    # deploy.yml gets this run's digests and the release environment, as inputs.
    job = run.jobs["deploy/deploy"]
    assert job.inputs == {
        "environment": "production",
        **images(kind),
        "skip_terraform": False,
        "skip_migrations": False,
    }
    assert job.environment == {"name": "production", "url": APP_URL}
    assert run.jobs["deploy"].outputs == {
        "release_id": "20261201T120000Z-1a2b3c",
        "status": "succeeded",
    }


def suite_caller() -> str:
    """The job of build-images.yml that calls ci.yml (the test suite)."""
    jobs = run_model.load("build-images.yml")["jobs"]
    callers = [job_id for job_id, job in jobs.items() if job.get("uses", "").endswith("/ci.yml")]
    assert len(callers) == 1, f"build-images.yml calls ci.yml {len(callers)} times"
    return callers[0]


def test_a_tag_push_runs_the_test_suite_of_its_commit():
    suite = suite_caller()
    run = play(build_run("ghcr"))
    ci_jobs = {f"{suite}/{job_id}" for job_id in run_model.load("ci.yml")["jobs"]}
    assert ci_jobs <= run.running(), {path: run.jobs[path].result for path in ci_jobs}
    assert run.result("deploy") == "success"
    # The suite gates the deploy: deploy waits for it.
    needs = run_model.load("build-images.yml")["jobs"]["deploy"]["needs"]
    assert suite in needs


@pytest.mark.parametrize("failed", ["test", "terraform", "zizmor-online"])
def test_a_tag_whose_tests_fail_deploys_nothing(failed):
    suite = suite_caller()
    run = play(build_run("ghcr", results={f"{suite}/{failed}": "failure"}))
    assert run.result(f"{suite}/{failed}") == "failure"
    assert run.result(suite) == "failure"
    assert run.result("deploy") == "skipped"
    assert deployed(run) == set()


@pytest.mark.parametrize(
    ("kind", "failed"),
    [
        ("ghcr", "plan"),
        ("ghcr", "build-ghcr"),
        ("ecr", "ecr-repositories"),
        ("ecr", "build-ecr"),
        ("other", "build-other"),
        ("ghcr", "summary"),
    ],
)
def test_any_failed_build_deploys_nothing(kind, failed):
    run = play(build_run(kind, results={failed: "failure"}))
    assert run.result(failed) == "failure"
    assert run.result("deploy") == "skipped"
    assert deployed(run) == set()


@pytest.mark.parametrize("result", ["cancelled", "failure"])
def test_a_build_that_does_not_succeed_deploys_nothing(result):
    run = play(build_run("ghcr", results={"build-ghcr": result}))
    assert run.result("deploy") == "skipped"


def test_a_cancelled_run_deploys_nothing():
    run = play(build_run("ghcr", run_cancelled=True))
    assert deployed(run) == set()
    assert run.result("deploy") == "skipped"


# --- build-images by hand: builds, never deploys; the registry from the repository's settings ----


def test_a_manual_build_builds_and_stops():
    run = play(build_run("ghcr", event="workflow_dispatch"))
    assert run.result("build-ghcr") == "success"
    assert run.result("summary") == "success"
    assert run.result("deploy") == "skipped"
    assert deployed(run) == set()
    # The test suite gates releases; a manual build releases nothing, so it does not wait for it.
    assert not [p for p, j in run.jobs.items() if j.called is not None and j.result != "skipped"]


def plan_settings(run: Run) -> dict[str, str]:
    """The registry and prefix the plan step hands to `shipline images plan`."""
    [step] = [s for s in run_model.load("build-images.yml")["jobs"]["plan"]["steps"]
              if s.get("id") == "plan"]  # fmt: skip
    return {
        name: run.evaluate("plan", step["env"][name], "jobs.steps.env")
        for name in ("REGISTRY", "IMAGE_PREFIX")
    }


REPOSITORY_SETTINGS = {"SHIPLINE_REGISTRY": ECR, "SHIPLINE_IMAGE_PREFIX": "agent-saas"}


@pytest.mark.parametrize("event", ["workflow_dispatch", "push"])
def test_empty_inputs_take_the_repository_variables(event):
    run = play(build_run("ecr", event=event, vars=REPOSITORY_SETTINGS))
    assert plan_settings(run) == {"REGISTRY": ECR, "IMAGE_PREFIX": "agent-saas"}
    assert run.run_name.startswith(f"build images ({ECR})")


def test_a_registry_given_by_hand_wins_over_the_variables():
    given = {"registry": "registry.example.com", "image_prefix": "team/shop"}
    run = play(build_run("other", event="workflow_dispatch", vars=REPOSITORY_SETTINGS,
                         inputs=given))  # fmt: skip
    assert plan_settings(run) == {"REGISTRY": "registry.example.com", "IMAGE_PREFIX": "team/shop"}


def test_without_inputs_or_variables_the_images_go_to_ghcr_under_the_repository():
    run = play(build_run("ghcr", event="workflow_dispatch", vars={}))
    assert plan_settings(run) == {"REGISTRY": "ghcr.io", "IMAGE_PREFIX": run_model.REPOSITORY}


# --- deploy.yml and rollback.yml by hand ---------------------------------------------------------


def deploy_run(**inputs: Any) -> Scenario:
    return Scenario(
        "deploy.yml",
        "workflow_dispatch",
        inputs={"environment": "production", **inputs},
        environments={"production": PRODUCTION},
        step_outputs={"deploy": DEPLOYED},
    )


def test_a_deploy_by_hand_runs_terraform_and_links_the_web_app_it_reports():
    run = play(deploy_run(api_image=images("ghcr")["api_image"]))
    job = run.jobs["deploy"]
    assert job.result == "success"
    assert job.steps["terraform"]["outcome"] == "success"
    assert job.steps["deploy-images"]["outcome"] == "skipped"
    assert job.environment == {"name": "production", "url": APP_URL}
    assert job.outputs["release_id"] == DEPLOYED["deploy-terraform"]["release-id"]


def test_a_deploy_without_terraform_links_the_environments_app_url():
    run = play(deploy_run(skip_terraform=True))
    job = run.jobs["deploy"]
    assert job.steps["terraform"]["outcome"] == "skipped"
    assert job.steps["deploy-images"]["outcome"] == "success"
    assert job.environment == {"name": "production", "url": PRODUCTION["APP_PUBLIC_URL"]}
    assert job.outputs["release_id"] == DEPLOYED["deploy-images"]["release-id"]


def rollback_run(**inputs: Any) -> Scenario:
    return Scenario(
        "rollback.yml",
        "workflow_dispatch",
        inputs={"environment": "production", **inputs},
        environments={"production": PRODUCTION},
        step_outputs={"rollback": {"credentials": {"method": "oidc"}}},
    )


def rollback_with(run: Run) -> dict[str, Any]:
    """The rollback action's inputs, as GitHub gives them."""
    [step] = [s for s in run_model.load("rollback.yml")["jobs"]["rollback"]["steps"]
              if s.get("id") == "rollback"]  # fmt: skip
    return {
        key: run.evaluate("rollback", value, "jobs.steps.with")
        for key, value in step["with"].items()
    }


def test_a_rollback_by_hand_runs_in_its_environment_and_keeps_the_lock_by_default():
    run = play(rollback_run())
    job = run.jobs["rollback"]
    assert job.result == "success"
    assert job.environment == {"name": "production"}
    given = rollback_with(run)
    assert given["environment"] == "production"
    assert given["break-lock"] is False


def test_a_rollback_can_break_a_stale_lock_on_purpose():
    assert rollback_with(play(rollback_run(break_lock=True)))["break-lock"] is True


# --- queued together: a rollback is never dropped ------------------------------------------------


def group_of(run: Run, path: str) -> tuple[str | None, bool]:
    concurrency = run.jobs[path].concurrency or {}
    return concurrency.get("group"), bool(concurrency.get("cancel-in-progress"))


def test_a_rollback_queued_behind_a_deploy_is_never_dropped():
    # A deploy by hand is running; a rollback is started; then a tag push reaches its deploy.
    # GitHub keeps one pending run per group and cancels the older pending one (see
    # tests/actions/concurrency.py for the documented rule).
    running_deploy = play(deploy_run())
    rollback = play(rollback_run())
    tag_deploy = play(build_run("ghcr"))
    groups = Groups()
    groups.queue("deploy by hand", *group_of(running_deploy, "deploy"))
    groups.queue("rollback", *group_of(rollback, "rollback"))
    groups.queue("tag deploy", *group_of(tag_deploy, "deploy/deploy"))
    assert "rollback" not in groups.cancelled
    groups.finish("deploy by hand")
    assert "rollback" in groups.started


def test_deploys_of_one_environment_run_one_at_a_time():
    first, second = play(deploy_run()), play(build_run("ghcr"))
    assert group_of(first, "deploy") == group_of(second, "deploy/deploy")
    group, cancel_in_progress = group_of(first, "deploy")
    assert group and not cancel_in_progress  # never cancelled half-way
    groups = Groups()
    groups.queue("deploy by hand", group, cancel_in_progress)
    groups.queue("tag deploy", group, cancel_in_progress)
    assert groups.started == ["deploy by hand"]


def test_no_called_workflow_waits_for_its_caller():
    # A called workflow (or job) in its caller's group waits for the caller: a deadlock.
    run = play(build_run("ghcr"))
    held = {run.concurrency["group"]}
    for path, job in run.jobs.items():
        for concurrency in (job.concurrency, job.called_concurrency):
            if concurrency and job.result != "skipped":
                assert concurrency["group"] not in held, (path, concurrency["group"])


# --- every job of every workflow runs in some run ------------------------------------------------


def every_run() -> list[Scenario]:
    scenarios = [build_run(kind, event) for kind in BUILDS
                 for event in ("push", "workflow_dispatch")]  # fmt: skip
    scenarios += [deploy_run(), deploy_run(skip_terraform=True), rollback_run()]
    scenarios += [Scenario("ci.yml", event) for event in ("push", "pull_request")]
    return scenarios


def test_every_job_of_every_workflow_runs_in_some_run():
    # A job whose ancestors may be skipped is skipped with them unless its `if` says otherwise
    # (actions/runner#2205): such a job would never run at all.
    ran: set[tuple[str, str]] = set()
    for scenario in every_run():
        run = play(scenario)
        for path in run.running():
            workflow = scenario.workflow
            *callers, job_id = path.split("/")
            for caller in callers:
                workflow = run_model.called_workflow(
                    run_model.load(workflow)["jobs"][caller]["uses"]
                )
            ran.add((workflow, job_id))
    every_job = {
        (path.name, job_id)
        for path in sorted(run_model.WORKFLOWS.glob("*.yml"))
        for job_id in run_model.load(path.name)["jobs"]
    }
    assert every_job - ran == set()
