"""The workflows' structure: triggers and inputs, permissions, environments and credentials, read
from the YAML the way GitHub reads it. How their runs play out (conditions, chaining, concurrency)
is in test_workflow_runs.py, on GitHub's own expression engine."""

from __future__ import annotations

import fnmatch
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from support.actions import gates
from support.infra import infra_rules

WORKFLOWS = gates.REPO / ".github" / "workflows"
AWS_CREDENTIALS = "aws-actions/configure-aws-credentials"
# shipline's actions that call AWS: a job using one must run in a GitHub environment.
AWS_ACTIONS = {"terraform-apply", "ecs-deploy", "rollback", "promote"}
LOCAL_USES = re.compile(r"^(?:\$|\.)/(?P<path>.+)$")


def workflow(name: str) -> dict[str, Any]:
    document = gates.load_yaml(WORKFLOWS / name)
    # PyYAML reads the key `on` as the boolean True.
    document["on"] = document.pop(True, document.get("on"))
    return document


def all_workflows() -> list[Path]:
    return gates.workflow_files()


def steps_of(job: dict[str, Any]) -> list[dict[str, Any]]:
    return job.get("steps") or []


def uses_name(step: dict[str, Any]) -> str:
    return str(step.get("uses", "")).split("@")[0]


def local_action(step: dict[str, Any]) -> str | None:
    match = LOCAL_USES.match(str(step.get("uses", "")))
    if match and match["path"].startswith("actions/"):
        return match["path"].removeprefix("actions/")
    return None


def touches_aws(job: dict[str, Any]) -> bool:
    return any(
        uses_name(step) == AWS_CREDENTIALS or local_action(step) in AWS_ACTIONS
        for step in steps_of(job)
    )


# --- deploy.yml ---------------------------------------------------------------------------------

DEPLOY_INPUTS = {
    "environment": "string",
    "api_image": "string",
    "web_image": "string",
    "skip_terraform": "boolean",
    "skip_migrations": "boolean",
    "commit_sha": "string",
    "committed_at": "string",
}


@pytest.mark.parametrize("trigger", ["workflow_dispatch", "workflow_call"])
def test_deploy_takes_the_same_inputs_from_a_person_and_from_another_workflow(trigger):
    inputs = workflow("deploy.yml")["on"][trigger]["inputs"]
    assert set(inputs) == set(DEPLOY_INPUTS)
    for name, kind in DEPLOY_INPUTS.items():
        expected = (
            "environment" if (trigger, name) == ("workflow_dispatch", "environment") else kind
        )
        assert inputs[name]["type"] == expected, name
        assert inputs[name]["description"]
    assert inputs["environment"]["required"] is True
    assert inputs["api_image"]["default"] == "" and inputs["web_image"]["default"] == ""
    assert inputs["skip_terraform"]["default"] is False
    assert inputs["skip_migrations"]["default"] is False


def test_deploy_has_no_other_trigger_and_hands_back_the_release():
    on = workflow("deploy.yml")["on"]
    assert set(on) == {"workflow_dispatch", "workflow_call"}
    outputs = on["workflow_call"]["outputs"]
    assert outputs["release_id"]["value"] == "${{ jobs.deploy.outputs.release_id }}"
    assert outputs["status"]["value"] == "${{ jobs.deploy.outputs.status }}"
    # Fallback keys may be passed by a caller; OIDC needs none.
    secrets = on["workflow_call"]["secrets"]
    assert set(secrets) == {
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "SHIPLINE_WEBHOOK_URL",
    }
    assert not any(spec["required"] for spec in secrets.values())


def test_deploy_runs_terraform_and_the_release_in_two_jobs_in_order():
    jobs = workflow("deploy.yml")["jobs"]
    assert jobs["deploy"]["needs"] == "terraform"
    for job_id, wanted in [
        ("terraform", ["actions/checkout", AWS_CREDENTIALS, "$/actions/setup-shipline",
                       "$/actions/terraform-apply"]),
        ("deploy", ["actions/checkout", AWS_CREDENTIALS, "$/actions/setup-shipline",
                    "$/actions/ecs-deploy"]),
    ]:  # fmt: skip
        order = [uses_name(step) or "run" for step in steps_of(jobs[job_id])]
        positions = [order.index(name) for name in wanted]
        assert positions == sorted(positions), (job_id, order)
    # The deploy job never runs Terraform, the Terraform job never deploys.
    assert "$/actions/terraform-apply" not in [uses_name(s) for s in steps_of(jobs["deploy"])]
    assert "$/actions/ecs-deploy" not in [uses_name(s) for s in steps_of(jobs["terraform"])]
    deploy_steps = steps_of(jobs["deploy"])
    assert uses_name(deploy_steps[-1]) == "" and deploy_steps[-1]["if"] == "always()"  # outcome


def test_the_delivery_figures_follow_every_release_and_never_change_its_result():
    """After the deploy and its clean-up (docs/insights.md): `shipline insights` writes the job
    summary and the HTML report, which is attached as an artifact; a failure of either is only
    reported (continue-on-error), so a release's result is its own."""
    steps = steps_of(workflow("deploy.yml")["jobs"]["deploy"])
    by_id = {step.get("id"): index for index, step in enumerate(steps)}
    figures = steps[by_id["insights"]]
    assert by_id["end-session"] < by_id["insights"] < len(steps) - 1
    assert figures["continue-on-error"] is True
    assert figures["if"] == "${{ !cancelled() }}"
    assert "shipline insights" in figures["run"] and '--html "${REPORT}"' in figures["run"]
    [attach] = [s for s in steps if uses_name(s) == "actions/upload-artifact"]
    assert attach["continue-on-error"] is True
    assert "steps.insights.outcome == 'success'" in attach["if"]
    assert attach["with"]["path"] == figures["env"]["REPORT"]


def test_deploy_uses_terraforms_task_definitions_unless_terraform_is_skipped():
    jobs = workflow("deploy.yml")["jobs"]
    terraform = {step.get("id"): step for step in steps_of(jobs["terraform"])}["terraform"]
    steps = {step.get("id"): step for step in steps_of(jobs["deploy"])}
    by_terraform, by_image = steps["deploy-terraform"], steps["deploy-images"]
    assert jobs["terraform"]["if"] == by_terraform["if"] == "${{ !inputs.skip_terraform }}"
    assert by_image["if"] == "${{ inputs.skip_terraform }}"
    # With Terraform: the task definitions it registered, handed over as the job's output.
    outputs = jobs["terraform"]["outputs"]
    assert outputs["task_definitions"] == "${{ steps.terraform.outputs.task-definitions }}"
    assert (
        by_terraform["with"]["task-definitions"]
        == "${{ needs.terraform.outputs.task_definitions }}"
    )
    assert "images" not in by_terraform["with"]
    # Without: the images onto copies of the live task definitions.
    assert "task-definitions" not in by_image["with"]
    for key in ("api", "web"):
        assert f"{key}=${{{{ inputs.{key}_image }}}}" in by_image["with"]["images"]
        assert f"{key}=${{{{ inputs.{key}_image }}}}" in terraform["with"]["images"]
    # Terraform's outputs reach shipline.yml's ${ECS_CLUSTER_NAME}, ${API_BASE_URL} and
    # ${APP_PUBLIC_URL} through the Terraform job's outputs (GITHUB_ENV ends with its job).
    for name, output in [("ECS_CLUSTER_NAME", "cluster"), ("API_BASE_URL", "api_url"),
                         ("APP_PUBLIC_URL", "app_url")]:  # fmt: skip
        assert by_terraform["env"][name].startswith(f"${{{{ needs.terraform.outputs.{output} ")
        assert name in by_image["env"]
    for step in (by_terraform, by_image):
        assert step["with"]["migrate"] == "${{ !inputs.skip_migrations }}"
        assert step["with"]["environment"] == "${{ inputs.environment }}"


def test_deploy_locks_the_environment_before_terraform_and_each_job_ends_the_session():
    """The release lock is taken before `terraform apply` changes anything; Terraform and the
    deploy continue that release by its id; a failed or cancelled Terraform job ends it
    itself, the deploy job's clean-up ends a deploy stopped before its end."""
    jobs = workflow("deploy.yml")["jobs"]
    job_steps = steps_of(jobs["terraform"])
    ids = [step.get("id") for step in job_steps]
    steps = {step.get("id"): step for step in job_steps}
    assert "shipline lock acquire -e" in steps["session"]["run"]
    assert ids.index("session") < ids.index("terraform") < ids.index("end-session")
    release_id = "${{ steps.session.outputs.release_id }}"
    assert steps["terraform"]["with"]["release-id"] == release_id
    assert steps["terraform"]["with"]["environment"] == "${{ inputs.environment }}"
    assert jobs["terraform"]["outputs"]["release_id"] == release_id
    assert "--finish-record" in steps["end-session"]["run"]
    assert steps["end-session"]["env"]["RELEASE_ID"] == release_id
    deploy = {step.get("id"): step for step in steps_of(jobs["deploy"])}
    handed = "${{ needs.terraform.outputs.release_id }}"
    assert deploy["deploy-terraform"]["with"]["release-id"] == handed
    assert deploy["end-session"]["if"].startswith("${{ always() && ")
    assert deploy["end-session"]["env"]["RELEASE_ID"] == handed
    assert "--finish-record" in deploy["end-session"]["run"]


# --- rollback.yml --------------------------------------------------------------------------------


def test_rollback_is_started_by_hand_with_environment_target_and_emergency_stop():
    on = workflow("rollback.yml")["on"]
    assert set(on) == {"workflow_dispatch"}
    inputs = on["workflow_dispatch"]["inputs"]
    assert set(inputs) == {"environment", "to", "scale_to_zero", "break_lock"}
    assert inputs["environment"]["type"] == "environment" and inputs["environment"]["required"]
    assert inputs["to"]["type"] == "string" and inputs["to"]["default"] == ""
    for flag in ("scale_to_zero", "break_lock"):
        assert inputs[flag]["type"] == "boolean" and inputs[flag]["default"] is False


def test_rollback_job_passes_its_inputs_to_the_rollback_action():
    job = workflow("rollback.yml")["jobs"]["rollback"]
    [step] = [step for step in steps_of(job) if local_action(step) == "rollback"]
    assert step["with"] == {
        "environment": "${{ inputs.environment }}",
        "to": "${{ inputs.to }}",
        "scale-to-zero": "${{ inputs.scale_to_zero }}",
        "break-lock": "${{ inputs.break_lock }}",
        "wait-for-lock": step["with"]["wait-for-lock"],
        "config": "${{ vars.SHIPLINE_CONFIG || 'shipline.yml' }}",
    }


def test_a_rollback_waits_for_a_running_deploys_lock_within_its_own_timeout():
    # Out of deploy.yml's concurrency group, a rollback meets a running deploy at shipline's
    # lock: it waits as long as that deploy may hold it, and still has time to roll back.
    deploy_timeout = workflow("deploy.yml")["jobs"]["deploy"]["timeout-minutes"] * 60
    job = workflow("rollback.yml")["jobs"]["rollback"]
    [step] = [step for step in steps_of(job) if local_action(step) == "rollback"]
    wait = int(step["with"]["wait-for-lock"])
    assert wait >= deploy_timeout
    assert job["timeout-minutes"] * 60 >= wait + 30 * 60
    assert "concurrency" not in job


# --- promote.yml ---------------------------------------------------------------------------------


def test_promote_is_started_by_hand_with_from_to_and_an_optional_release():
    on = workflow("promote.yml")["on"]
    assert set(on) == {"workflow_dispatch"}
    inputs = on["workflow_dispatch"]["inputs"]
    assert set(inputs) == {"from", "to", "release"}
    # `to` is a GitHub environment: its protection rules gate the job that changes it.
    assert inputs["to"]["type"] == "environment" and inputs["to"]["required"] is True
    assert inputs["from"]["required"] is True
    assert inputs["release"]["required"] is False and inputs["release"]["default"] == ""


def test_promote_job_passes_its_inputs_to_the_promote_action():
    job = workflow("promote.yml")["jobs"]["promote"]
    [step] = [step for step in steps_of(job) if local_action(step) == "promote"]
    assert step["with"] == {
        "from": "${{ inputs.from }}",
        "to": "${{ inputs.to }}",
        "release": "${{ inputs.release }}",
        "config": "${{ vars.SHIPLINE_CONFIG || 'shipline.yml' }}",
    }
    # It deploys images onto the target's live task definitions: it never runs Terraform.
    assert not {local_action(s) for s in steps_of(job)} & {"terraform-apply", "ecs-deploy"}
    setup = [i for i, s in enumerate(steps_of(job)) if local_action(s) == "setup-shipline"]
    assert setup and setup[0] < steps_of(job).index(step)


def test_the_promote_action_wraps_shipline_promote():
    spec = gates.load_yaml(gates.REPO / "actions" / "promote" / "action.yml")
    assert set(spec["inputs"]) == {"from", "to", "release", "config"}
    assert {"release-id", "status", "exit-code", "result-file"} <= set(spec["outputs"])
    [step] = spec["runs"]["steps"]
    assert "args=(promote --from" in step["run"] and 'exec shipline "${args[@]}"' in step["run"]


# --- deploy and rollback together ----------------------------------------------------------------


def test_only_the_release_runs_hold_the_release_group():
    # A caller (build-images.yml) holding deploy's group would wait for itself forever. deploy.yml
    # holds it for the whole run: the lock spans its Terraform and deploy jobs.
    group = workflow("deploy.yml")["concurrency"]["group"]
    prefix = group.split("${{")[0]
    for path in all_workflows():
        document = workflow(path.name)
        held = [] if path.name == "deploy.yml" else [("workflow", document.get("concurrency"))]
        if path.name not in ("deploy.yml", "rollback.yml"):
            held += [(job_id, job.get("concurrency")) for job_id, job in document["jobs"].items()]
        for where, concurrency in held:
            text = concurrency if isinstance(concurrency, str) else (concurrency or {}).get("group")
            assert not str(text or "").startswith(prefix), f"{path.name} {where}: {text}"


# Each job that touches AWS, and the role variable of its GitHub environment.
ROLE_VARIABLES = {
    ("deploy.yml", "terraform"): "AWS_INFRA_ROLE_ARN",
    ("deploy.yml", "deploy"): "AWS_DEPLOY_ROLE_ARN",
    ("rollback.yml", "rollback"): "AWS_DEPLOY_ROLE_ARN",
    ("promote.yml", "promote"): "AWS_DEPLOY_ROLE_ARN",
}


@pytest.mark.parametrize(("name", "job_id"), sorted(ROLE_VARIABLES))
def test_aws_credentials_come_from_the_oidc_role_with_keys_only_as_fallback(name, job_id):
    job = workflow(name)["jobs"][job_id]
    variable = ROLE_VARIABLES[(name, job_id)]
    steps = steps_of(job)
    [choose] = [step for step in steps if step.get("id") == "credentials"]
    assert choose["env"]["ROLE_ARN"] == f"${{{{ vars.{variable} }}}}"
    credentials = [step for step in steps if uses_name(step) == AWS_CREDENTIALS]
    assert len(credentials) == 2
    oidc, keys = credentials
    assert oidc["if"] == "steps.credentials.outputs.method == 'oidc'"
    assert oidc["with"]["role-to-assume"] == f"${{{{ vars.{variable} }}}}"
    assert not any("secrets." in str(value) for value in oidc["with"].values())
    assert keys["if"] == "steps.credentials.outputs.method == 'keys'"
    assert keys["with"]["aws-access-key-id"] == "${{ secrets.AWS_ACCESS_KEY_ID }}"
    assert keys["with"]["aws-secret-access-key"] == "${{ secrets.AWS_SECRET_ACCESS_KEY }}"
    assert "role-to-assume" not in keys["with"]
    # The choice prefers the role: keys only when no role variable is set.
    script = choose["run"]
    assert script.index('-n "${ROLE_ARN}"') < script.index("HAS_ACCESS_KEYS")
    assert job["permissions"]["id-token"] == "write"


# --- every workflow ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", all_workflows(), ids=lambda p: p.name)
def test_workflow_grants_nothing_at_the_top_and_each_job_its_own(path):
    document = workflow(path.name)
    assert document["permissions"] == {}
    for job_id, job in document["jobs"].items():
        assert isinstance(job.get("permissions"), dict), f"{job_id}: no permissions of its own"
        has_credentials = any(uses_name(step) == AWS_CREDENTIALS for step in steps_of(job))
        calls_workflow = "uses" in job
        if job["permissions"].get("id-token") == "write":
            assert has_credentials or calls_workflow or _passes_aws_role(job), (
                f"{job_id}: id-token: write without AWS credentials"
            )
        assert job["permissions"].get("contents") in (None, "read"), job_id


def _passes_aws_role(job: dict[str, Any]) -> bool:
    return any(
        "role" in key and "vars." in str(value)
        for step in steps_of(job)
        for key, value in (step.get("with") or {}).items()
    )


@pytest.mark.parametrize("path", all_workflows(), ids=lambda p: p.name)
def test_jobs_that_deploy_run_in_the_chosen_github_environment(path):
    # Terraform in <environment>-infra (the infra role trusts only that name), releases in
    # <environment> (the deploy role's).
    for job_id, job in workflow(path.name)["jobs"].items():
        actions = {local_action(step) for step in steps_of(job)}
        if actions & AWS_ACTIONS:
            environment = job.get("environment")
            name = environment.get("name") if isinstance(environment, dict) else environment
            # A promotion releases into its target: `to` is the environment it changes.
            wanted = "${{ inputs.to }}" if "promote" in actions else "${{ inputs.environment }}"
            if "terraform-apply" in actions:
                wanted += "-infra"
                assert not actions & {"ecs-deploy", "rollback"}, job_id
            assert name == wanted, job_id
        if touches_aws(job) and path.name in ("deploy.yml", "rollback.yml", "promote.yml"):
            assert job.get("environment"), job_id


@pytest.mark.parametrize("path", all_workflows(), ids=lambda p: p.name)
def test_local_actions_get_declared_inputs_and_give_declared_outputs(path):
    document = workflow(path.name)
    text = path.read_text(encoding="utf-8")
    for job_id, job in document["jobs"].items():
        by_id = {}
        for step in steps_of(job):
            action = local_action(step)
            if action is None:
                continue
            spec = gates.load_yaml(gates.REPO / "actions" / action / "action.yml")
            declared = spec.get("inputs") or {}
            given = set(step.get("with") or {})
            assert given <= set(declared), (
                f"{job_id}: {action} has no input {given - set(declared)}"
            )
            required = {k for k, v in declared.items() if v.get("required") and "default" not in v}
            assert required <= given, f"{job_id}: {action} needs {required - given}"
            if "id" in step:
                by_id[step["id"]] = set(spec.get("outputs") or {})
        for step_id, output in re.findall(r"steps\.([\w-]+)\.outputs\.([\w-]+)", text):
            if step_id in by_id:
                assert output in by_id[step_id], f"{path.name}: {step_id} has no output {output}"


# --- chaining: a tag push builds, then deploys by digest -----------------------------------------
# Whether and when it deploys is played on GitHub's engine in test_workflow_runs.py; here, what
# the call is made of.


def test_a_tag_push_calls_deploy_with_this_runs_digests():
    build = workflow("build-images.yml")
    assert any(pattern.startswith("v") for pattern in build["on"]["push"]["tags"])
    callers = {
        job_id: job
        for job_id, job in build["jobs"].items()
        if str(job.get("uses", "")).endswith(".github/workflows/deploy.yml")
    }
    assert len(callers) == 1, "build-images.yml calls deploy.yml once"
    [job] = callers.values()
    assert LOCAL_USES.match(job["uses"]), "deploy.yml is called from this repository"
    deploy_inputs = workflow("deploy.yml")["on"]["workflow_call"]["inputs"]
    assert set(job["with"]) <= set(deploy_inputs)
    assert {"environment", "api_image", "web_image"} <= set(job["with"])
    # Deploys what this run built (its digests), not whatever a tag points to later.
    for key in ("api_image", "web_image"):
        assert "needs." in job["with"][key], job["with"][key]
    assert job["permissions"]["id-token"] == "write"


def test_the_commit_of_the_images_reaches_every_step_that_writes_a_new_record():
    """build-images hands deploy the commit it built (SHA and time, docs/insights.md); deploy
    passes them to the two steps that create a release record (the lock before Terraform, the
    deploy without Terraform) as SHIPLINE_COMMIT_SHA / SHIPLINE_COMMITTED_AT."""
    build = workflow("build-images.yml")
    [caller] = [job for job in build["jobs"].values() if "deploy.yml" in str(job.get("uses", ""))]
    assert caller["with"]["commit_sha"] == "${{ github.sha }}"
    assert caller["with"]["committed_at"] == "${{ needs.plan.outputs.committed_at }}"
    assert "plan" in caller["needs"]
    plan = build["jobs"]["plan"]
    assert plan["outputs"]["committed_at"] == "${{ steps.commit.outputs.committed_at }}"
    [step] = [step for step in plan["steps"] if step.get("id") == "commit"]
    assert "git log -1 --format=%cI HEAD" in step["run"]
    jobs = workflow("deploy.yml")["jobs"]
    creators = [
        step
        for job in jobs.values()
        for step in job["steps"]
        if "lock acquire" in str(step.get("run", "")) or step.get("id") == "deploy-images"
    ]
    assert len(creators) == 2
    for step in creators:
        assert step["env"]["SHIPLINE_COMMIT_SHA"] == "${{ inputs.commit_sha }}"
        assert step["env"]["SHIPLINE_COMMITTED_AT"] == "${{ inputs.committed_at }}"


def test_every_step_that_can_end_a_release_gets_the_webhook_secret():
    """A release ends in the deploy steps, the rollback step, and the clean-up steps that end
    a session (`lock release --finish-record`): each pings shipline.yml's notify.webhook, so
    each gets SHIPLINE_WEBHOOK_URL from the secret (empty when there is none: no ping), and
    build-images hands the secret to the deploy it calls."""
    secret = "${{ secrets.SHIPLINE_WEBHOOK_URL }}"
    enders = []
    for name in ("deploy.yml", "rollback.yml"):
        for job in workflow(name)["jobs"].values():
            for step in job["steps"]:
                uses, run = str(step.get("uses", "")), str(step.get("run", ""))
                if uses.endswith(("/actions/ecs-deploy", "/actions/rollback")) or (
                    "--finish-record" in run
                ):
                    enders.append(step)
    assert len(enders) == 5  # two deploy steps, two clean-ups, the rollback
    for step in enders:
        assert step["env"]["SHIPLINE_WEBHOOK_URL"] == secret, step.get("name")
    build = workflow("build-images.yml")
    [caller] = [job for job in build["jobs"].values() if "deploy.yml" in str(job.get("uses", ""))]
    assert caller["secrets"]["SHIPLINE_WEBHOOK_URL"] == secret


def test_the_test_suite_called_on_a_tag_gets_what_it_needs():
    ci = workflow("ci.yml")
    assert "workflow_call" in ci["on"]
    [caller] = [
        job
        for job in workflow("build-images.yml")["jobs"].values()
        if str(job.get("uses", "")).endswith(".github/workflows/ci.yml")
    ]
    # A called workflow's jobs get at most what the calling job grants.
    granted = caller["permissions"]
    for job_id, job in ci["jobs"].items():
        for scope, level in job["permissions"].items():
            assert granted.get(scope) == level, f"ci.yml {job_id} needs {scope}: {level}"


# --- credentials last as long as the jobs that change an environment -----------------------------


# Time the credentials must outlive a job's timeout: the runner's cancel (SIGINT, SIGTERM after
# 7.5 s, kill after 2.5 s more), then shipline's interrupted record and lock release.
AFTER_TIMEOUT = 10 * 60


@cache
def role_max_session(role: str) -> int:
    """max_session_duration of the blueprint's role `github_<role>` (a literal or a local)."""
    blueprint = infra_rules.load(infra_rules.BLUEPRINT)
    value = str(blueprint.resources[("aws_iam_role", f"github_{role}")]["max_session_duration"])
    local = re.fullmatch(r"\$\{local\.(\w+)\}", value)
    return int(blueprint.locals[local[1]] if local else value)


# The blueprint's role behind each workflow variable.
ROLES = {"AWS_INFRA_ROLE_ARN": "infra", "AWS_DEPLOY_ROLE_ARN": "deploy"}


def jobs_that_change_an_environment() -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path.name, job_id, job)
        for path in all_workflows()
        for job_id, job in workflow(path.name)["jobs"].items()
        if any(local_action(step) in AWS_ACTIONS for step in steps_of(job))
    ]


def test_jobs_that_change_an_environment_are_found():
    found = {(name, job_id) for name, job_id, _ in jobs_that_change_an_environment()}
    assert found >= {
        ("deploy.yml", "terraform"),
        ("deploy.yml", "deploy"),
        ("rollback.yml", "rollback"),
        ("promote.yml", "promote"),
    }


@pytest.mark.parametrize(
    ("name", "job_id", "job"),
    jobs_that_change_an_environment(),
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_an_assumed_roles_session_outlasts_the_job(name, job_id, job):
    # configure-aws-credentials asks for 1 hour unless told otherwise, and STS caps the session
    # at the role's max_session_duration: a release running longer fails with ExpiredToken.
    # When the timeout cancels the job, shipline still records the release as interrupted and
    # frees its lock, with the same credentials: the session must last beyond the timeout.
    roles = [
        step for step in steps_of(job)
        if uses_name(step) == AWS_CREDENTIALS and "role-to-assume" in (step.get("with") or {})
    ]  # fmt: skip
    assert roles, f"{name} {job_id}: no role is assumed"
    for step in roles:
        variable = re.fullmatch(r"\$\{\{ vars\.(\w+) \}\}", step["with"]["role-to-assume"])
        allowed = role_max_session(ROLES[variable[1]])
        duration = int(step["with"].get("role-duration-seconds", 3600))
        needed = job["timeout-minutes"] * 60 + AFTER_TIMEOUT
        assert needed <= duration <= allowed, (
            f"{name} {job_id}: {job['timeout-minutes']} minutes + {AFTER_TIMEOUT} s after the "
            f"timeout need sessions of {needed} s; it asks for {duration} s, the role allows "
            f"{allowed} s"
        )


# --- ci.yml -----------------------------------------------------------------------------------


def test_ci_runs_the_tests_and_the_network_checks_on_pushes_and_pull_requests():
    ci = workflow("ci.yml")
    assert {"push", "pull_request"} <= set(ci["on"])
    jobs = ci["jobs"]
    scripts = {
        job_id: " ".join(s.get("run", "") for s in steps_of(job)) for job_id, job in jobs.items()
    }
    assert ".ci/run" in scripts["test"]
    terraform = scripts["terraform"]
    assert "terraform fmt -check" in terraform
    assert "init -backend=false" in terraform and "terraform validate" in terraform
    assert "zizmor" in scripts["zizmor-online"] and "--offline" not in scripts["zizmor-online"]
    assert not any(touches_aws(job) for job in jobs.values())


def test_every_composite_action_is_used_by_a_workflow():
    """An action no workflow runs is untested glue that users copy: each one must be in use
    (ecs-deploy already migrates and verifies; `shipline migrate`/`verify` stay commands)."""
    used = {
        local_action(step)
        for path in all_workflows()
        for job in (gates.load_yaml(path).get("jobs") or {}).values()
        for step in steps_of(job)
    }
    actions = {path.parent.name for path in gates.action_files()}
    assert actions - used == set()


def role_allows(role: str) -> set[str]:
    """The actions the blueprint's role `github_<role>` allows (its policy as written)."""
    body = infra_rules.load(infra_rules.BLUEPRINT).data[
        ("aws_iam_policy_document", f"github_{role}")
    ]
    statements = list(body.get("statement", []))
    for dynamic in body.get("dynamic", []):
        statements += dynamic.get("statement", {}).get("content", [])
    return {
        action
        for statement in statements
        if statement.get("effect", "Allow") == "Allow"
        for action in statement.get("actions", [])
    }


def test_the_role_the_terraform_step_assumes_can_plan_and_the_release_role_cannot():
    # The defect: the Terraform step ran with the deploy role, which cannot even read the
    # zones `plan` starts with. The job running terraform-apply assumes the infra role.
    for path in all_workflows():
        for job_id, job in workflow(path.name)["jobs"].items():
            actions = {local_action(step) for step in steps_of(job)}
            if not actions & AWS_ACTIONS:
                continue
            [role_var] = {
                step["with"]["role-to-assume"]
                for step in steps_of(job)
                if uses_name(step) == AWS_CREDENTIALS and "role-to-assume" in step["with"]
            }
            role = ROLES[re.fullmatch(r"\$\{\{ vars\.(\w+) \}\}", role_var)[1]]
            can_plan = any(
                fnmatch.fnmatchcase("ec2:DescribeAvailabilityZones", pattern)
                for pattern in role_allows(role)
            )
            assert can_plan == ("terraform-apply" in actions), (path.name, job_id, role)
