"""The workflows' runs as GitHub plays them: every job-level `if:`, concurrency group, environment,
`with:` of a reusable workflow and the values a test names here are evaluated by GitHub's own
expression engine, with GitHub's job-level status functions (tests/support/actions/run_model.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from support.actions import run_model
from support.actions.concurrency import Groups
from support.actions.engine import Status
from support.actions.run_model import Run, Scenario, play

TAG = "refs/tags/v1.2.0"
ECR = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
DIGEST = "@sha256:" + "a" * 64
APP_URL = "https://app.example.com"
# A GitHub environment's own variables (Settings > Environments), seen by jobs that declare it.
PRODUCTION = {"AWS_REGION": "eu-west-1", "APP_PUBLIC_URL": "https://app.vars.example.com"}
# The GitHub environment of deploy.yml's Terraform job (its own reviewers, the infra role).
PRODUCTION_INFRA = {"AWS_REGION": "eu-west-1", "AWS_INFRA_ROLE_ARN": "arn:aws:iam::1:role/infra"}
STAGING = {"AWS_REGION": "eu-west-1", "APP_PUBLIC_URL": "https://staging.vars.example.com"}
STAGING_INFRA = {"AWS_REGION": "eu-west-1", "AWS_INFRA_ROLE_ARN": "arn:aws:iam::1:role/infra-s"}
ENVIRONMENTS = {
    "production": PRODUCTION,
    "production-infra": PRODUCTION_INFRA,
    "staging": STAGING,
    "staging-infra": STAGING_INFRA,
}
API_URL = "https://api.example.com"
SESSION = "20261201T120000Z-1a2b3c"
# The Terraform job's step outputs: the release session, then what Terraform registered.
TERRAFORMED = {
    "credentials": {"method": "oidc"},
    "session": {"release_id": SESSION},
    "terraform": {
        "app-url": APP_URL,
        "api-url": API_URL,
        "task-definitions": "api=arn:api:7\nweb=arn:web:4",
        "cluster": "shop",
    },
}
# The deploy job's step outputs when it deployed Terraform's task definitions, or images.
DEPLOYED = {
    "deploy-terraform": {"release-id": SESSION, "status": "succeeded"},
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


COMMITTED_AT = "2026-11-26T08:15:00+01:00"  # git log -1 --format=%cI
RUN_SHA = "0123456789abcdef0123456789abcdef01234567"  # github.sha of every modelled run


def build_run(
    kind: str, event: str = "push", promotion: list[str] | None = None, **changes: Any
) -> Scenario:
    """build-images.yml started by a `v*` tag push (or by hand), planning images of `kind`;
    `promotion` is shipline.yml's order as `shipline images plan` outputs it."""
    plan = {
        "kind": kind,
        "aws_region": "",
        "aws_account": "",
        "matrix": json.dumps({"include": [{"name": "api"}, {"name": "web"}]}),
        "promotion": json.dumps(promotion or []),
        **PLANS[kind],
    }
    scenario = Scenario(
        "build-images.yml",
        event,
        ref=TAG if event == "push" else "refs/heads/main",
        vars={"SHIPLINE_REGISTRY": ECR} if kind == "ecr" else {},
        environments=ENVIRONMENTS,
        step_outputs={
            "plan": {"plan": plan, "commit": {"committed_at": COMMITTED_AT}},
            "summary": {"collect": images(kind)},
            "deploy/terraform": TERRAFORMED,
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
    # Terraform in its own environment, then the deploy in the target's, one session across.
    assert deployed(run) == {"deploy/terraform", "deploy/deploy"}
    assert run.jobs["deploy/terraform"].environment == {"name": "production-infra"}
    # deploy.yml gets this run's digests and the release environment, as inputs.
    job = run.jobs["deploy/deploy"]
    assert job.inputs == {
        "environment": "production",
        **images(kind),
        "skip_terraform": False,
        "skip_migrations": False,
        # The commit this run built: the release record keeps it (lead time).
        "commit_sha": RUN_SHA,
        "committed_at": COMMITTED_AT,
    }
    assert job.environment == {"name": "production", "url": APP_URL}
    assert deploy_step_with(run, "deploy/deploy", "deploy-terraform")["release-id"] == SESSION
    assert run.jobs["deploy"].outputs == {"release_id": SESSION, "status": "succeeded"}


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


def deploy_run(**changes: Any) -> Scenario:
    inputs = {"environment": "production", **changes.pop("inputs", {})}
    scenario = Scenario(
        "deploy.yml",
        "workflow_dispatch",
        inputs=inputs,
        environments=ENVIRONMENTS,
        step_outputs={"terraform": TERRAFORMED, "deploy": DEPLOYED},
    )
    for key, value in changes.items():
        setattr(scenario, key, value)
    return scenario


def step_of(workflow: str, job_id: str, step_id: str) -> dict[str, Any]:
    [step] = [s for s in run_model.load(workflow)["jobs"][job_id]["steps"]
              if s.get("id") == step_id]  # fmt: skip
    return step


def deploy_step_with(run: Run, path: str, step_id: str) -> dict[str, Any]:
    """The with: and env: of deploy.yml's step `step_id` in job `path`, as GitHub gives them."""
    step = step_of("deploy.yml", path.rsplit("/", 1)[-1], step_id)
    given = {key: run.evaluate(path, value, "jobs.steps.with")
             for key, value in (step.get("with") or {}).items()}  # fmt: skip
    given.update({key: run.evaluate(path, value, "jobs.steps.env")
                  for key, value in (step.get("env") or {}).items()})  # fmt: skip
    return given


def test_a_deploy_by_hand_runs_terraform_then_deploys_what_it_registered():
    run = play(deploy_run(inputs={"api_image": images("ghcr")["api_image"]}))
    terraform, deploy = run.jobs["terraform"], run.jobs["deploy"]
    assert (terraform.result, deploy.result) == ("success", "success")
    assert terraform.environment == {"name": "production-infra"}
    assert terraform.steps["terraform"]["outcome"] == "success"
    # A successful apply leaves the session open for the deploy job.
    assert terraform.steps["end-session"]["outcome"] == "skipped"
    assert deploy.steps["deploy-terraform"]["outcome"] == "success"
    assert deploy.steps["deploy-images"]["outcome"] == "skipped"
    assert deploy.environment == {"name": "production", "url": APP_URL}
    given = deploy_step_with(run, "deploy", "deploy-terraform")
    assert given["release-id"] == SESSION
    assert given["task-definitions"] == TERRAFORMED["terraform"]["task-definitions"]
    assert given["ECS_CLUSTER_NAME"] == "shop"
    assert (given["API_BASE_URL"], given["APP_PUBLIC_URL"]) == (API_URL, APP_URL)
    assert deploy.outputs["release_id"] == SESSION
    # The deploy job's clean-up runs always and ends nothing after a finished deploy.
    assert deploy.steps["end-session"]["outcome"] == "success"
    # Each job assumes its own role, from its own environment's variables.
    assert run.evaluate("terraform", "${{ vars.AWS_INFRA_ROLE_ARN }}", "jobs.steps.with")
    assert not run.evaluate("deploy", "${{ vars.AWS_INFRA_ROLE_ARN }}", "jobs.steps.with")


@pytest.mark.parametrize("result", ["failure", "cancelled"])
def test_a_terraform_job_that_does_not_succeed_skips_the_deploy_and_ends_its_session(result):
    run = play(
        deploy_run(
            results={"terraform": result},
            step_outcomes={"terraform": {"terraform": "failure"}},
        )
    )
    assert run.result("terraform") == result
    assert run.result("deploy") == "skipped"
    # Its own clean-up ends the session: the record failed, naming what changed; lock freed.
    assert run.jobs["terraform"].steps["end-session"]["outcome"] == "success"
    clean_up = step_of("deploy.yml", "terraform", "end-session")
    assert "--finish-record" in clean_up["run"]
    assert run.evaluate("terraform", clean_up["env"]["RELEASE_ID"], "jobs.steps.env") == SESSION


def test_a_cancel_during_terraform_ends_its_session():
    # The run model plays a cancelled run from its start; the clean-up's `if:` is evaluated
    # here with the step status GitHub gives after a cancel during the apply.
    condition = step_of("deploy.yml", "terraform", "end-session")["if"]
    contexts = {"steps": {"session": {"outputs": {"release_id": SESSION}}}}
    cancelled = Status(success=False, failure=False, cancelled=True)
    assert run_model._condition(condition, contexts, cancelled) is True
    without_session = {"steps": {"session": {"outputs": {}}}}
    assert run_model._condition(condition, without_session, cancelled) is False


def test_a_deploy_without_terraform_runs_the_deploy_job_alone():
    run = play(deploy_run(inputs={"skip_terraform": True}))
    assert run.result("terraform") == "skipped"
    job = run.jobs["deploy"]
    assert job.result == "success"
    assert job.steps["deploy-terraform"]["outcome"] == "skipped"
    assert job.steps["deploy-images"]["outcome"] == "success"
    assert job.steps["end-session"]["outcome"] == "skipped"  # no session without Terraform
    assert job.environment == {"name": "production", "url": PRODUCTION["APP_PUBLIC_URL"]}
    assert job.outputs["release_id"] == DEPLOYED["deploy-images"]["release-id"]


def rollback_run(**inputs: Any) -> Scenario:
    return Scenario(
        "rollback.yml",
        "workflow_dispatch",
        inputs={"environment": "production", **inputs},
        environments=ENVIRONMENTS,
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


# --- promotion: a tag push deploys to the first environment, promote.yml takes it further -------


def summary_env(run: Run) -> dict[str, Any]:
    """The env: of build-images.yml's summary step, as GitHub gives it."""
    step = step_of("build-images.yml", "summary", "collect")
    return {key: run.evaluate("summary", value, "jobs.steps.env")
            for key, value in step["env"].items()}  # fmt: skip


def test_a_tag_push_deploys_to_the_first_environment_of_the_promotion_order():
    run = play(build_run("ghcr", promotion=["staging", "production"]))
    assert run.result("deploy") == "success"
    job = run.jobs["deploy/deploy"]
    assert job.inputs["environment"] == "staging"
    assert job.environment == {"name": "staging", "url": APP_URL}
    assert run.jobs["deploy/terraform"].environment == {"name": "staging-infra"}
    # Its summary says how to promote that release on.
    env = summary_env(run)
    assert (env["RELEASE_ENVIRONMENT"], env["PROMOTE_TO"]) == ("staging", "production")
    step = step_of("build-images.yml", "summary", "collect")
    assert (
        "gh workflow run promote.yml -f from=${RELEASE_ENVIRONMENT} -f to=${PROMOTE_TO}"
        in (step["run"])
    )


@pytest.mark.parametrize(
    ("variables", "wanted"), [({}, "production"), ({"RELEASE_ENVIRONMENT": "staging"}, "staging")]
)
def test_without_a_promotion_order_a_tag_push_deploys_as_before(variables, wanted):
    run = play(build_run("ghcr", vars=variables))
    assert run.jobs["deploy/deploy"].inputs["environment"] == wanted
    assert summary_env(run)["PROMOTE_TO"] in ("", None)


def promote_run(**inputs: Any) -> Scenario:
    return Scenario(
        "promote.yml",
        "workflow_dispatch",
        inputs={"from": "staging", "to": "production", **inputs},
        environments=ENVIRONMENTS,
        step_outputs={
            "promote": {
                "credentials": {"method": "oidc"},
                "promote": {"release-id": "20261201T130000Z-777777", "status": "succeeded"},
            }
        },
    )


def promote_with(run: Run) -> dict[str, Any]:
    """The promote action's inputs, as GitHub gives them."""
    step = step_of("promote.yml", "promote", "promote")
    return {key: run.evaluate("promote", value, "jobs.steps.with")
            for key, value in step["with"].items()}  # fmt: skip


def test_a_promotion_runs_in_the_target_environment_so_its_protection_rules_gate_it():
    run = play(promote_run())
    job = run.jobs["promote"]
    assert job.result == "success"
    # The target's GitHub environment (reviewers, wait timer, branches), its variables and role.
    assert job.environment == {"name": "production", "url": PRODUCTION["APP_PUBLIC_URL"]}
    assert (
        run.evaluate("promote", "${{ vars.APP_PUBLIC_URL }}", "jobs.steps.with")
        == (PRODUCTION["APP_PUBLIC_URL"])
    )
    assert promote_with(run) == {
        "from": "staging",
        "to": "production",
        "release": "",
        "config": "shipline.yml",
    }
    assert job.steps["promote"]["outcome"] == "success"
    assert job.outputs == {"release_id": "20261201T130000Z-777777", "status": "succeeded"}
    assert run.run_name == "promote staging to production"


def test_a_promotion_of_a_named_release_passes_it_on():
    run = play(promote_run(release="20261201T120000Z-1a2b3c", to="staging", **{"from": "qa"}))
    assert promote_with(run)["release"] == "20261201T120000Z-1a2b3c"
    assert run.jobs["promote"].environment == {"name": "staging", "url": STAGING["APP_PUBLIC_URL"]}
    assert run.run_name == "promote qa to staging (20261201T120000Z-1a2b3c)"


def test_a_promotion_holds_no_release_group_while_it_waits_for_reviewers():
    run = play(promote_run())
    assert run.concurrency is None and run.jobs["promote"].concurrency is None


# --- queued together: a rollback is never dropped ------------------------------------------------


def group_of(run: Run, path: str) -> tuple[str | None, bool]:
    concurrency = run.jobs[path].concurrency or {}
    return concurrency.get("group"), bool(concurrency.get("cancel-in-progress"))


def release_group_of(run: Run) -> tuple[str | None, bool]:
    """deploy.yml's own group (held by the whole run, both jobs), started or called."""
    if run.scenario.workflow == "deploy.yml":
        concurrency = run.concurrency or {}
    else:
        concurrency = run.jobs["deploy"].called_concurrency or {}
    return concurrency.get("group"), bool(concurrency.get("cancel-in-progress"))


def test_a_rollback_queued_behind_a_deploy_is_never_dropped():
    # A deploy by hand is running; a rollback is started; then a tag push reaches its deploy.
    # GitHub keeps one pending run per group and cancels the older pending one (see
    # tests/support/actions/concurrency.py for the documented rule).
    running_deploy = play(deploy_run())
    rollback = play(rollback_run())
    tag_deploy = play(build_run("ghcr"))
    groups = Groups()
    groups.queue("deploy by hand", *release_group_of(running_deploy))
    groups.queue("rollback", *group_of(rollback, "rollback"))
    groups.queue("tag deploy", *release_group_of(tag_deploy))
    assert "rollback" not in groups.cancelled
    groups.finish("deploy by hand")
    assert "rollback" in groups.started


def test_deploys_of_one_environment_run_one_at_a_time():
    first, second = play(deploy_run()), play(build_run("ghcr"))
    assert release_group_of(first) == release_group_of(second)
    group, cancel_in_progress = release_group_of(first)
    assert group == "shipline-release-production"
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
    scenarios += [deploy_run(), deploy_run(inputs={"skip_terraform": True}), rollback_run()]
    scenarios += [promote_run()]
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
