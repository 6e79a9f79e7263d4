"""The static gates over every workflow and composite action, each with a known-bad fixture that
must make it fail (a gate that cannot fail proves nothing)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jsonschema
import pytest

from shipline import schemas
from support.actions import gates

FIXTURES = gates.FIXTURES
BAD_WORKFLOWS = FIXTURES / "workflows"
BAD_ACTIONS = FIXTURES / "actions"

# The verified release commits this repository may pin (owner/repo, tag, commit). The data the
# gate reads is .github/action-pins.json; this copy is the reviewed list it must equal, so an
# unverified SHA cannot slip into the allow-list unnoticed.
VERIFIED_PINS = {
    ("actions/checkout", "v7.0.1", "3d3c42e5aac5ba805825da76410c181273ba90b1"),
    ("actions/setup-python", "v7.0.0", "5fda3b95a4ea91299a34e894583c3862153e4b97"),
    ("actions/upload-artifact", "v7.0.0", "bbbca2ddaa5d8feaa63e36b76fdaad77386f024f"),
    ("actions/download-artifact", "v8.0.1", "3e5f45b2cfb9172054b4087a40e8e0b5a5461e7c"),
    (
        "aws-actions/configure-aws-credentials",
        "v6.2.3",
        "e6de054238d6b7531b4efff3b6587d9aade6a06c",
    ),
    ("aws-actions/amazon-ecr-login", "v2.1.7", "03f1aad4c6c7ffd436567f42f9384779290529bd"),
    ("docker/setup-qemu-action", "v4.2.0", "96fe6ef7f33517b61c61be40b68a1882f3264fb8"),
    ("docker/setup-buildx-action", "v4.3.0", "37fe631027851001ddb9b187196cc803df7f5f0e"),
    ("docker/login-action", "v4.1.0", "4907a6ddec9925e35a0a9e82d7399ccc52663121"),
    ("docker/metadata-action", "v6.2.0", "dc802804100637a589fabce1cb79ff13a1411302"),
    ("docker/build-push-action", "v7.3.0", "53b7df96c91f9c12dcc8a07bcb9ccacbed38856a"),
    ("hashicorp/setup-terraform", "v4.0.1", "dfe3c3f87815947d99a8997f908cb6525fc44e9e"),
}

OWN_ACTIONS = {
    "setup-shipline",
    "build-push",
    "terraform-apply",
    "ecs-deploy",
    "rollback",
    "promote",
}


def as_action(fixture: str, tmp_path: Path) -> Path:
    """Copy a bad action fixture to `<tmp>/<name>/action.yml`, the name tools look for."""
    folder = tmp_path / fixture
    folder.mkdir()
    target = folder / "action.yml"
    shutil.copy(BAD_ACTIONS / f"{fixture}.action.yml", target)
    return target


def joined(findings: list[str]) -> str:
    return "\n".join(findings)


# --- what the gates run over ---------------------------------------------------------------------


def test_gates_cover_every_workflow_and_action_in_the_repository():
    workflows = {path.name for path in gates.workflow_files()}
    assert {"deploy.yml", "rollback.yml", "ci.yml"} <= workflows
    actions = {path.parent.name for path in gates.action_files()}
    assert actions >= OWN_ACTIONS
    # Nothing under the bad fixtures is collected as a project file.
    assert not [p for p in gates.action_files() if p.is_relative_to(FIXTURES)]


# --- actionlint + shellcheck on the workflows ----------------------------------------------------


def test_actionlint_passes_every_workflow():
    assert gates.actionlint(gates.workflow_files()) == []


def test_actionlint_runs_shellcheck_on_workflow_scripts():
    findings = joined(gates.actionlint([BAD_WORKFLOWS / "bad-shellcheck.yml"]))
    assert "SC2086" in findings


def test_actionlint_rejects_an_untrusted_expression_in_a_script():
    findings = joined(gates.actionlint([BAD_WORKFLOWS / "bad-injection.yml"]))
    assert "github.event.issue.title" in findings and "potentially untrusted" in findings


# --- zizmor --------------------------------------------------------------------------------------


def test_zizmor_finds_nothing_in_the_repository():
    assert gates.zizmor([gates.REPO]) == []


def test_zizmor_reports_template_injection_in_a_workflow():
    assert "template-injection" in joined(gates.zizmor([BAD_WORKFLOWS / "bad-injection.yml"]))


def test_zizmor_reports_template_injection_in_an_action(tmp_path):
    action = as_action("bad-injection", tmp_path)
    assert "template-injection" in joined(gates.zizmor([action]))


def test_zizmor_reports_an_unpinned_action(tmp_path):
    assert "unpinned-uses" in joined(gates.zizmor([as_action("bad-unpinned", tmp_path)]))
    assert "unpinned-uses" in joined(gates.zizmor([BAD_WORKFLOWS / "bad-unpinned.yml"]))


def test_zizmor_strict_collection_fails_on_an_invalid_action(tmp_path):
    findings = joined(gates.zizmor([as_action("bad-no-shell", tmp_path)]))
    assert "no audit was performed" in findings


def test_zizmor_config_disables_no_rule_without_a_reason():
    text = gates.ZIZMOR_CONFIG.read_text(encoding="utf-8")
    for number, line in enumerate(text.splitlines(), 1):
        if "disable: true" in line or "ignore:" in line:
            previous = text.splitlines()[number - 2].strip()
            assert previous.startswith("#"), f"zizmor.yml:{number}: no reason written above"


# --- GitHub's schemas, and timeout-minutes on every job ------------------------------------------


def test_workflows_match_the_schema_and_every_job_has_a_timeout():
    assert gates.workflow_schema(gates.workflow_files()) == []


def test_actions_match_the_schema():
    assert gates.action_schema(gates.action_files()) == []


def test_schema_gate_rejects_a_misspelt_job_key():
    assert gates.check_schema("vendor.github-workflows", [BAD_WORKFLOWS / "bad-schema.yml"])


def test_schema_gate_rejects_a_job_without_timeout():
    bad = BAD_WORKFLOWS / "bad-no-timeout.yml"
    assert gates.check_schema("vendor.github-workflows", [bad]) == []  # valid, except ...
    assert gates.workflow_schema([bad])  # ... the timeout rule


def test_schema_gate_rejects_a_composite_step_without_shell():
    assert gates.action_schema([BAD_ACTIONS / "bad-no-shell.action.yml"])


# --- scripts of the composite actions ------------------------------------------------------------


def test_composite_action_scripts_pass_shellcheck_and_hold_no_expressions():
    assert gates.shellcheck_composite(gates.action_files()) == []


def test_every_composite_action_has_scripts_to_check():
    # shipline's own actions each run at least one script; the gate must see them.
    checked = {
        script.source.parent.name
        for a in gates.action_files()
        for script in gates.composite_scripts(a)
    }
    assert checked >= OWN_ACTIONS


def test_composite_gate_rejects_expressions_and_shellcheck_findings():
    findings = joined(gates.shellcheck_composite([BAD_ACTIONS / "bad-script.action.yml"]))
    assert "expression inside run: ${{ inputs.target }}" in findings
    assert "SC2086" in findings
    assert "reads ${INPUT_TARGET, which GitHub does not set" in findings


def test_composite_gate_rejects_a_step_without_bash():
    findings = joined(gates.shellcheck_composite([BAD_ACTIONS / "bad-no-shell.action.yml"]))
    assert "shell must be bash" in findings


def test_workflow_scripts_hold_no_expressions():
    scripts = [script for path in gates.workflow_files() for script in gates.workflow_scripts(path)]
    assert scripts, "the workflows have run: steps to check"
    assert gates.expressions_in_scripts(scripts) == []


def test_expression_check_rejects_a_workflow_script_with_an_expression():
    scripts = gates.workflow_scripts(BAD_WORKFLOWS / "bad-injection.yml")
    assert "github.event.issue.title" in joined(gates.expressions_in_scripts(scripts))


# --- third-party actions pinned to verified commits ----------------------------------------------


def test_pins_file_is_valid_and_holds_exactly_the_verified_releases():
    document = json.loads(gates.PINS_FILE.read_text(encoding="utf-8"))
    schema = schemas.load("action-pins")
    jsonschema.Draft202012Validator(schema).validate(document)
    found = {(e["action"], e["version"], e["commit"]) for e in document["actions"]}
    assert found == VERIFIED_PINS


def test_every_third_party_action_is_pinned_with_its_version_comment():
    files = [*gates.workflow_files(), *gates.action_files()]
    assert gates.unpinned_uses(files, gates.allowed_pins()) == []


@pytest.mark.parametrize(
    "expected",
    [
        "actions/checkout@v7.0.1 is not pinned to a full commit SHA",
        "is not the verified commit 5fda3b95a4ea91299a34e894583c3862153e4b97 (v7.0.0)",
        "needs the version comment `# v4.0.1` (found None)",
        "someone/deploy-action is not in the allowed pins",
    ],
)
def test_pin_gate_rejects_each_kind_of_bad_reference(expected):
    findings = joined(
        gates.unpinned_uses([BAD_WORKFLOWS / "bad-unpinned.yml"], gates.allowed_pins())
    )
    assert expected in findings


def test_pin_gate_rejects_an_unpinned_action_in_a_composite_action():
    findings = gates.unpinned_uses([BAD_ACTIONS / "bad-unpinned.action.yml"], gates.allowed_pins())
    assert "actions/setup-python@v7 is not pinned to a full commit SHA" in joined(findings)


def test_pin_gate_notices_a_uses_form_it_cannot_read(tmp_path):
    odd = tmp_path / "odd.yml"
    odd.write_text(
        "jobs:\n  a:\n    steps:\n      - {uses: actions/checkout@v1}\n", encoding="utf-8"
    )
    assert "cannot read" in joined(gates.unpinned_uses([odd], gates.allowed_pins()))


# --- the composite actions' own conventions ------------------------------------------------------


@pytest.mark.parametrize("name", sorted(OWN_ACTIONS))
def test_action_documents_every_input_and_output(name):
    document = gates.load_yaml(gates.REPO / "actions" / name / "action.yml")
    assert document["name"] and document["description"]
    for kind in ("inputs", "outputs"):
        for key, spec in (document.get(kind) or {}).items():
            assert (spec or {}).get("description"), f"{name}: {kind}.{key} has no description"
    for step in document["runs"]["steps"]:
        if "run" in step:
            assert step.get("shell") == "bash"
