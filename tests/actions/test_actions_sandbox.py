"""shipline's composite actions run by the runner against the sandbox: the scripts GitHub would
run, the shipline commands they call, the outputs and summaries a workflow would read."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from support.actions.runner import ActionRun, run_action

REPO = Path(__file__).resolve().parents[2]
ACTIONS = REPO / "actions"
RELEASE_ID = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{6}$")


@pytest.fixture
def workspace(tmp_path: Path, environment: Any) -> Path:
    """A job's workspace: a checkout with the environment's shipline.yml ("sim")."""
    document = environment.shipline_config("sim")
    # An unhealthy service is given up on after 2 s, not the config's 20.
    document["environments"]["sim"]["health"]["timeout"] = 2
    (tmp_path / "shipline.yml").write_text(yaml.safe_dump(document), encoding="utf-8")
    return tmp_path


def job_env() -> dict[str, str]:
    """The job's environment: the sandbox's AWS settings (set by the fixture) and this Python's
    scripts first on PATH, as setup-python + setup-shipline leave it."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    for name in ("GITHUB_OUTPUT", "GITHUB_ENV", "GITHUB_STEP_SUMMARY", "GITHUB_PATH"):
        env.pop(name, None)
    return env


def run(name: str, inputs: dict[str, str], workspace: Path) -> ActionRun:
    return run_action(
        ACTIONS / name,
        inputs,
        env=job_env(),
        workspace=workspace,
        runner_temp=workspace / ".runner-temp",
        timeout=120,
    )


def result(run_: ActionRun) -> dict[str, Any]:
    return json.loads(Path(run_.outputs["result-file"]).read_text(encoding="utf-8"))


def running(environment: Any, sandbox: Any) -> dict[str, str]:
    """Service key -> task definition ARN it runs."""
    names = list(environment.services.values())
    described = sandbox.client("ecs").describe_services(
        cluster=environment.cluster, services=names
    )["services"]
    by_name = {service["serviceName"]: service["taskDefinition"] for service in described}
    return {key: by_name[name] for key, name in environment.services.items()}


def image_of(sandbox: Any, task_definition: str, container: str) -> str:
    document = sandbox.client("ecs").describe_task_definition(taskDefinition=task_definition)
    [found] = [
        c["image"]
        for c in document["taskDefinition"]["containerDefinitions"]
        if c["name"] == container
    ]
    return found


def deploy(environment: Any, workspace: Path, tag: str, **inputs: str) -> ActionRun:
    images = f"api={environment.image('api', tag)}\nweb={environment.image('web', tag)}\n"
    return run("ecs-deploy", {"environment": "sim", "images": images, **inputs}, workspace)


# --- setup-shipline ------------------------------------------------------------------------------


def test_setup_shipline_reuses_an_install_of_the_same_source(tmp_path):
    done = run_action(ACTIONS / "setup-shipline", {}, env=job_env(), workspace=tmp_path)
    assert done.exit_code == 0, done.log
    assert done.skipped_uses == [
        "actions/setup-python@5fda3b95a4ea91299a34e894583c3862153e4b97",
    ]
    assert done.outputs["installed"] == "false"
    assert done.outputs["version"].startswith("shipline ")
    assert Path(done.outputs["python"]).parent == Path(sys.executable).parent


# --- ecs-deploy ----------------------------------------------------------------------------------


def test_ecs_deploy_moves_every_service_and_reports_the_release(sandbox, environment, workspace):
    before = running(environment, sandbox)
    done = deploy(environment, workspace, "v2")
    assert done.exit_code == 0, done.log
    assert done.skipped_uses == []
    outputs = done.outputs
    assert RELEASE_ID.match(outputs["release-id"]), outputs
    assert outputs["status"] == "succeeded"
    assert outputs["exit-code"] == "0"
    after = running(environment, sandbox)
    for key in ("api", "web", "worker"):  # the worker runs the api image
        assert after[key] != before[key]
        assert outputs[f"{key}-task-definition"] == after[key]
        image = "web" if key == "web" else "api"
        assert image_of(sandbox, after[key], environment.containers[key]) == environment.pinned(
            image, "v2"
        )
    assert result(done)["release_id"] == outputs["release-id"]
    # The step summary names the release and each service.
    assert outputs["release-id"] in done.summary
    for service in environment.services.values():
        assert service in done.summary


def test_ecs_deploy_of_an_unhealthy_release_rolls_back_and_fails_the_step(
    sandbox, environment, workspace
):
    before = running(environment, sandbox)
    sandbox.policy(
        {
            "services": {
                "*": {"converge_seconds": 0.2},
                environment.services["web"]: {"unhealthy": "v3"},
            },
            "tasks": {"*": {"run_seconds": 0.2}},
        }
    )
    done = deploy(environment, workspace, "v3")
    assert done.exit_code == 1, done.log
    assert done.outputs["status"] == "rolled_back"
    assert done.outputs["exit-code"] == "1"
    assert running(environment, sandbox) == before  # every service back where it was
    assert any(level == "error" for level, _ in done.annotations), done.log
    assert "rolled_back" in done.summary or "rolled back" in done.summary.lower()


def test_ecs_deploy_deploys_given_task_definitions_as_they_are(sandbox, environment, workspace):
    from support.sim_sandbox import register_revision

    ecs = sandbox.client("ecs")
    registered = register_revision(
        ecs,
        environment.task_definitions["web"],
        environment.containers["web"],
        environment.image("web", "v5"),
    )
    done = run(
        "ecs-deploy",
        {"environment": "sim", "task-definitions": f"web={registered}\n\n", "migrate": "false"},
        workspace,
    )
    assert done.exit_code == 0, done.log
    after = running(environment, sandbox)
    assert after["web"] == registered
    assert done.outputs["web-task-definition"] == registered
    assert after["api"] == environment.task_definitions["api"]  # not moved
    assert done.outputs["api-task-definition"] == after["api"]


def test_ecs_deploy_refuses_a_bad_flag_before_calling_shipline(sandbox, environment, workspace):
    before = running(environment, sandbox)
    done = deploy(environment, workspace, "v2", migrate="yes")
    assert done.exit_code == 2
    assert ("error", 'ecs-deploy: input migrate must be "true" or "false", got "yes"') in (
        done.annotations
    )
    assert running(environment, sandbox) == before


def test_ecs_deploy_passes_shiplines_refusal_on(sandbox, environment, workspace):
    done = run("ecs-deploy", {"environment": "nowhere", "images": "api=x:1"}, workspace)
    assert done.exit_code == 2
    assert done.outputs["exit-code"] == "2"
    assert done.outputs["status"] == "refused"


# --- rollback ------------------------------------------------------------------------------------


def test_rollback_returns_to_the_previous_release(sandbox, environment, workspace):
    first = deploy(environment, workspace, "v2")
    assert first.exit_code == 0, first.log
    on_first = running(environment, sandbox)
    second = deploy(environment, workspace, "v3")
    assert second.exit_code == 0, second.log

    done = run("rollback", {"environment": "sim"}, workspace)
    assert done.exit_code == 0, done.log
    assert done.outputs["status"] == "succeeded"
    assert done.outputs["rolled-back-to"] == first.outputs["release-id"]
    assert RELEASE_ID.match(done.outputs["release-id"])
    assert running(environment, sandbox) == on_first
    assert first.outputs["release-id"] in done.summary


def test_rollback_scales_to_zero(sandbox, environment, workspace):
    done = run("rollback", {"environment": "sim", "scale-to-zero": "true"}, workspace)
    assert done.exit_code == 0, done.log
    names = list(environment.services.values())
    described = sandbox.client("ecs").describe_services(cluster=environment.cluster, services=names)
    assert [service["desiredCount"] for service in described["services"]] == [0] * len(names)


def test_rollback_refuses_a_target_and_scale_to_zero_together(environment, workspace):
    done = run("rollback", {"environment": "sim", "to": "x", "scale-to-zero": "true"}, workspace)
    assert done.exit_code == 2
    assert done.annotations == [("error", "rollback: give either to or scale-to-zero, not both")]


def test_rollback_breaks_a_stale_lock_when_asked_and_records_it(sandbox, environment, workspace):
    """rollback.yml's break_lock input reaches the action as break-lock: nobody can break the
    lock from a laptop with the environment-scoped role, so the rollback does it, recorded."""
    from shipline.config import load_config
    from shipline.release.store import History, Lock

    first = deploy(environment, workspace, "v2")
    assert deploy(environment, workspace, "v3").exit_code == 0
    env = load_config(workspace / "shipline.yml").environment("sim")
    stale = Lock(env).acquire("20260101T000000Z-0000aa", holder="gone@runner", ttl_seconds=900)

    done = run("rollback", {"environment": "sim", "break-lock": "true"}, workspace)

    assert done.exit_code == 0, done.log
    assert done.outputs["rolled-back-to"] == first.outputs["release-id"]
    assert "--break-lock" in done.log
    record = History(env).get(done.outputs["release-id"])
    assert record.broke_lock == stale.to_dict()
    assert "Broke the lock on purpose" in done.summary


def test_rollback_waits_for_the_lock_by_default_and_checks_its_inputs(environment, workspace):
    done = run("rollback", {"environment": "sim", "break-lock": "yes"}, workspace)
    assert done.exit_code == 2
    assert done.annotations == [
        ("error", 'rollback: input break-lock must be "true" or "false", got "yes"')
    ]
    done = run("rollback", {"environment": "sim", "wait-for-lock": "soon"}, workspace)
    assert done.exit_code == 2
    defaults = yaml.safe_load((ACTIONS / "rollback" / "action.yml").read_text())["inputs"]
    assert defaults["wait-for-lock"]["default"] == "1800"  # within the job's 60 minutes
    assert defaults["break-lock"]["default"] == "false"


# --- promote -------------------------------------------------------------------------------------


def test_promote_deploys_the_live_release_of_one_environment_to_another(
    sandbox, environment, workspace
):
    from shipline.sim.seed import seed_environment

    production = seed_environment(sandbox.url, region=sandbox.region, name="agent-saas-prod")
    document = yaml.safe_load((workspace / "shipline.yml").read_text())
    document["environments"] |= production.shipline_config("production")["environments"]
    (workspace / "shipline.yml").write_text(yaml.safe_dump(document), encoding="utf-8")
    staged = deploy(environment, workspace, "v2")
    assert staged.exit_code == 0, staged.log

    done = run("promote", {"from": "sim", "to": "production"}, workspace)

    assert done.exit_code == 0, done.log
    outputs = done.outputs
    assert (
        RELEASE_ID.match(outputs["release-id"])
        and outputs["release-id"] != (staged.outputs["release-id"])
    )
    assert (outputs["status"], outputs["exit-code"]) == ("succeeded", "0")
    assert result(done)["promoted_from"] == {
        "environment": "sim",
        "release_id": staged.outputs["release-id"],
    }
    after = running(production, sandbox)
    assert image_of(sandbox, after["api"], "api") == environment.pinned("api", "v2")
    assert f"Promoted from `sim` release `{staged.outputs['release-id']}`" in done.summary


def test_promote_passes_a_refusal_on(sandbox, environment, workspace):
    done = run("promote", {"from": "sim", "to": "sim"}, workspace)
    assert done.exit_code == 2, done.log
    assert (done.outputs["status"], done.outputs["exit-code"]) == ("refused", "2")
    assert "promote to another environment" in done.log


# --- terraform-apply (terraform itself is a stand-in: arguments and exit codes only) -------------

STAND_IN_TERRAFORM = """\
#!{python}
# Stand-in for the terraform CLI: logs its arguments, answers init/plan/show/apply/output.
import json, os, sys
args = sys.argv[1:]
with open(os.environ["TERRAFORM_LOG"], "a") as log:
    log.write(json.dumps(args) + "\\n")
if os.environ.get("TERRAFORM_ENV_LOG"):  # the registry password as terraform received it
    with open(os.environ["TERRAFORM_ENV_LOG"], "a") as seen:
        seen.write(json.dumps(os.environ.get("TF_VAR_registry_password")) + "\\n")
command = next(a for a in args if not a.startswith("-"))
if command == "plan":
    out = next(a for a in args if a.startswith("-out=")).split("=", 1)[1]
    open(out, "w").write("binary plan")
elif command == "show":
    print(json.dumps(json.loads(os.environ["TERRAFORM_PLAN_JSON"])))
elif command == "output":
    print(os.environ["TERRAFORM_OUTPUTS_JSON"])
sys.exit(int(os.environ.get("TERRAFORM_EXIT_" + command.upper(), "0")))
"""

ARN = "arn:aws:ecs:us-east-1:123456789012:task-definition/agent-saas-production-{}:7"
TERRAFORM_OUTPUTS = {
    "api_task_definition_arn": {"value": ARN.format("api"), "type": "string", "sensitive": False},
    "web_task_definition_arn": {"value": ARN.format("web"), "type": "string", "sensitive": False},
    "worker_task_definition_arn": {"value": None, "type": "string", "sensitive": False},
    "cluster_name": {"value": "agent-saas-production", "type": "string", "sensitive": False},
    "environment": {"value": "production", "type": "string", "sensitive": False},
    "region": {"value": "us-east-1", "type": "string", "sensitive": False},
    "api_base_url": {"value": "https://api.example.com", "type": "string", "sensitive": False},
    "app_public_url": {"value": "https://app.example.com", "type": "string", "sensitive": False},
    "api_url": {"value": "https://api.example.com", "type": "string", "sensitive": False},
    "web_url": {"value": "https://app.example.com", "type": "string", "sensitive": False},
}


def plan_json(*changes: tuple[str, str, list[str]]) -> str:
    return json.dumps(
        {
            "format_version": "1.2",
            "resource_changes": [
                {
                    "address": address,
                    "type": kind,
                    "mode": "managed",
                    "change": {"actions": actions},
                }
                for address, kind, actions in changes
            ],
        }
    )


@pytest.fixture
def terraform_job(tmp_path: Path) -> tuple[dict[str, str], Path, Path]:
    """A workspace with a blueprint folder and the stand-in terraform first on PATH."""
    tools = tmp_path / "tools"
    tools.mkdir()
    stand_in = tools / "terraform"
    stand_in.write_text(STAND_IN_TERRAFORM.format(python=sys.executable), encoding="utf-8")
    stand_in.chmod(0o755)
    workspace = tmp_path / "workspace"
    (workspace / "ops" / "infra" / "aws").mkdir(parents=True)
    (workspace / "production.tfvars").write_text('environment = "production"\n')
    log = tmp_path / "terraform.log"
    env = job_env()
    env.update(
        PATH=os.pathsep.join([str(tools), env["PATH"]]),
        TERRAFORM_LOG=str(log),
        TERRAFORM_OUTPUTS_JSON=json.dumps(TERRAFORM_OUTPUTS),
        TERRAFORM_PLAN_JSON=plan_json(
            ('aws_ecs_task_definition.this["api"]', "aws_ecs_task_definition", ["create"])
        ),
    )
    return env, workspace, log


def terraform_calls(log: Path) -> list[list[str]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_terraform_apply_plans_applies_and_hands_on_terraforms_task_definitions(terraform_job):
    env, workspace, log = terraform_job
    done = run_action(
        ACTIONS / "terraform-apply",
        {
            "backend-config": "bucket=state-bucket\nkey=production.tfstate\n",
            "var-files": "production.tfvars",
            "images": "api=registry.example.com/api@sha256:" + "a" * 64 + "\nweb=\n",
        },
        env=env,
        workspace=workspace,
        runner_temp=workspace / ".runner-temp",
    )
    assert done.exit_code == 0, done.log
    assert done.skipped_uses == [
        "hashicorp/setup-terraform@dfe3c3f87815947d99a8997f908cb6525fc44e9e",
    ]
    calls = terraform_calls(log)
    commands = [next(a for a in call if not a.startswith("-")) for call in calls]
    assert commands == ["init", "plan", "show", "show", "apply", "output"]
    init, plan = calls[0], calls[1]
    assert "-backend-config=bucket=state-bucket" in init
    assert "-backend-config=key=production.tfstate" in init
    assert f"-var-file={workspace / 'production.tfvars'}" in plan
    assert "-var=api_image=registry.example.com/api@sha256:" + "a" * 64 in plan
    assert not any(arg.startswith("-var=web_image") for arg in plan)  # empty: left to the tfvars
    # Only the services Terraform created, as ecs-deploy's KEY=ARN lines.
    assert done.outputs["task-definitions"] == f"api={ARN.format('api')}\nweb={ARN.format('web')}"
    assert done.outputs["cluster"] == "agent-saas-production"
    # The outputs became the app's environment for the next steps.
    assert done.env["APP_PUBLIC_URL"] == "https://app.example.com"
    assert done.env["API_BASE_URL"] == "https://api.example.com"


@pytest.mark.parametrize(
    ("app_public_url", "expected"),
    [("https://shop.example.com", "https://shop.example.com"), ("", "https://app.example.com")],
)
def test_terraform_apply_hands_on_the_web_apps_url(terraform_job, app_public_url, expected):
    # APP_PUBLIC_URL as shipline maps it: the app_public_url input, else the derived web_url.
    env, workspace, _ = terraform_job
    outputs = json.loads(env["TERRAFORM_OUTPUTS_JSON"])
    outputs["app_public_url"]["value"] = app_public_url
    env["TERRAFORM_OUTPUTS_JSON"] = json.dumps(outputs)
    done = run_action(ACTIONS / "terraform-apply", {}, env=env, workspace=workspace)
    assert done.exit_code == 0, done.log
    assert done.outputs["app-url"] == expected
    # The API's URL too: deploy.yml's deploy job runs in another job, without this GITHUB_ENV.
    assert done.outputs["api-url"] == done.env["API_BASE_URL"] == "https://api.example.com"


def test_terraform_apply_skips_the_apply_of_a_plan_that_changes_nothing(terraform_job):
    env, workspace, log = terraform_job
    nothing = json.loads(
        plan_json(('aws_ecs_task_definition.this["api"]', "aws_ecs_task_definition", ["no-op"]))
    )
    env["TERRAFORM_PLAN_JSON"] = json.dumps({**nothing, "applyable": False})
    done = run_action(ACTIONS / "terraform-apply", {}, env=env, workspace=workspace)
    assert done.exit_code == 0, done.log
    commands = [next(a for a in call if not a.startswith("-")) for call in terraform_calls(log)]
    assert commands == ["init", "plan", "show", "show", "output"]  # no terraform apply
    assert "no changes: apply skipped" in done.step("apply").log
    assert done.step("plan").outputs["has_changes"] == "false"
    # The outputs are exported all the same, for the deploy after it.
    assert done.outputs["task-definitions"] == f"api={ARN.format('api')}\nweb={ARN.format('web')}"


def test_terraform_apply_refuses_to_destroy_the_database(terraform_job):
    env, workspace, log = terraform_job
    env["TERRAFORM_PLAN_JSON"] = plan_json(
        ("aws_db_instance.main", "aws_db_instance", ["delete", "create"])
    )
    done = run_action(ACTIONS / "terraform-apply", {}, env=env, workspace=workspace)
    assert done.exit_code == 2, done.log
    assert done.step("apply").skipped == "an earlier step failed"
    commands = [next(a for a in call if not a.startswith("-")) for call in terraform_calls(log)]
    assert "apply" not in commands
    assert "aws_db_instance.main" in done.log


def test_terraform_apply_keeps_the_running_image_for_an_empty_one(
    sandbox, environment, terraform_job
):
    """deploy.yml's "empty keeps the API as it is": Terraform gets the image the API runs now,
    not the var files' one (which would move the API and the worker back to it)."""
    env, workspace, log = terraform_job
    document = environment.shipline_config("sim")
    (workspace / "shipline.yml").write_text(yaml.safe_dump(document), encoding="utf-8")
    live_api = image_of(sandbox, running(environment, sandbox)["api"], "api")
    web = "registry.example.com/web@sha256:" + "b" * 64

    done = run_action(
        ACTIONS / "terraform-apply",
        {"environment": "sim", "images": f"api=\nweb={web}\n", "var-files": "production.tfvars"},
        env=env,
        workspace=workspace,
    )

    assert done.exit_code == 0, done.log
    plan = terraform_calls(log)[1]
    assert f"-var=api_image={live_api}" in plan
    assert f"-var=web_image={web}" in plan
    assert "api: no image given: keeping the image the services run now" in done.log


def test_terraform_apply_leaves_a_key_no_service_runs_to_the_var_files(
    sandbox, environment, terraform_job
):
    env, workspace, log = terraform_job
    document = environment.shipline_config("sim")
    (workspace / "shipline.yml").write_text(yaml.safe_dump(document), encoding="utf-8")
    sandbox.client("ecs").delete_service(
        cluster=environment.cluster, service=environment.services["web"], force=True
    )

    done = run_action(
        ACTIONS / "terraform-apply",
        {"environment": "sim", "images": "web=\n"},
        env=env,
        workspace=workspace,
    )

    assert done.exit_code == 0, done.log
    assert not any(arg.startswith("-var=web_image") for arg in terraform_calls(log)[1])
    assert "web: no image given and no running service to keep: the var files' image" in done.log


def workflow_step_env(
    workflow: str, job: str, step_id: str, github: dict[str, dict[str, str]]
) -> dict[str, str]:
    """The `env:` of a workflow step as GitHub evaluates it, for the two forms allowed here:
    `${{ secrets.NAME }}` and `${{ vars.NAME }}` (unset ones are empty strings, as on GitHub)."""
    document = yaml.safe_load((REPO / ".github" / "workflows" / workflow).read_text())
    [step] = [s for s in document["jobs"][job]["steps"] if s.get("id") == step_id]
    resolved = {}
    for name, value in (step.get("env") or {}).items():
        match = re.fullmatch(r"\$\{\{ (secrets|vars)\.([A-Z_]+) \}\}", str(value))
        assert match, f"{name}: {value} is not a form this test evaluates"
        resolved[name] = github.get(match[1], {}).get(match[2], "")
    return resolved


def test_terraform_apply_gives_terraform_the_registry_password_and_never_shows_it(
    terraform_job, tmp_path
):
    """deploy.yml passes secrets.REGISTRY_PASSWORD as TF_VAR_registry_password in the step's
    env: terraform receives it for plan and apply, and it appears in no log, output or summary
    (GitHub masks secrets too, but a value must not depend on that)."""
    env, workspace, log = terraform_job
    password = "ghp_" + "Q7x" * 12
    github = {"secrets": {"REGISTRY_PASSWORD": password}, "vars": {"REGISTRY_USERNAME": "octo"}}
    env.update(workflow_step_env("deploy.yml", "terraform", "terraform", github))
    env["TERRAFORM_ENV_LOG"] = str(tmp_path / "terraform-env.log")
    done = run_action(
        ACTIONS / "terraform-apply",
        {"images": "api=ghcr.io/o/api:1.2.3\n"},
        env=env,
        workspace=workspace,
    )
    assert done.exit_code == 0, done.log
    seen = [json.loads(line) for line in (tmp_path / "terraform-env.log").read_text().splitlines()]
    calls = [next(a for a in call if not a.startswith("-")) for call in terraform_calls(log)]
    received = dict(zip(calls, seen, strict=True))
    assert received["plan"] == password and received["apply"] == password
    everything = [done.log, json.dumps(done.outputs), json.dumps(done.env)]
    everything += [step.summary for step in done.steps] + [
        json.dumps(c) for c in terraform_calls(log)
    ]
    assert not any(password in text for text in everything)


def test_terraform_apply_in_a_release_session_refuses_when_the_release_lost_the_lock(
    sandbox, environment, terraform_job
):
    env, workspace, log = terraform_job
    document = environment.shipline_config("sim")
    (workspace / "shipline.yml").write_text(yaml.safe_dump(document), encoding="utf-8")
    stale = "20260101T000000Z-0000aa"  # no such session holds the lock

    done = run_action(
        ACTIONS / "terraform-apply",
        {"environment": "sim", "release-id": stale},
        env=env,
        workspace=workspace,
    )

    assert done.exit_code == 2, done.log
    assert f"release {stale} does not hold the lock" in done.log
    assert not log.exists()  # refused before terraform ran at all
