"""`shipline terraform plan|apply|outputs`: the blueprint, with a guard against data loss.

The flow is in `shipline.release.infrastructure`; this module parses the command line and
reports. `plan` and `apply` refuse (exit 2, nothing applied) a plan that deletes or replaces a
resource that may hold data (any type not listed in
schemas/terraform-disposable-resources.json) unless `--allow-destroy ADDRESS` names it. A plan
that changes nothing is not applied: `apply` says so and exits 0, sparing the apply's refresh.
A failed or interrupted `terraform apply` exits 3: some resources may have changed. Plan and
apply wait `--lock-timeout` for Terraform's state lock; a lock still held is exit 2
with the lock's ID and `terraform force-unlock`. A signal to shipline is passed on to
terraform (see `shipline.terraform.run`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipline import console, github
from shipline import terraform as tf
from shipline.errors import EXIT_OK, UsageError
from shipline.sensitive import url_passwords

if TYPE_CHECKING:
    from shipline.config import Environment

HELP = "plan, apply (refusing to delete stateful resources) and read the Terraform blueprint"

DEFAULT_DIRECTORY = "ops/infra/aws"
DEFAULT_PLAN_FILE = "shipline.tfplan"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    plan = actions.add_parser(
        "plan",
        help="init, plan into a file, summarize; exit 2 if applying it would lose data",
    )
    _common(plan)
    _planning(plan)

    apply = actions.add_parser(
        "apply",
        help="apply a saved plan (or plan first); refuses stateful deletes and replacements",
    )
    _common(apply)
    _planning(apply)
    apply.add_argument(
        "--plan-file",
        metavar="FILE",
        help="apply this saved plan (from `shipline terraform plan`) instead of planning again",
    )

    outputs = actions.add_parser("outputs", help="write `terraform output -json`")
    _common(outputs)
    outputs.add_argument(
        "--out",
        metavar="FILE",
        help="write the JSON to FILE (mode 600); on stdout sensitive values are redacted",
    )


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dir",
        default=os.environ.get("SHIPLINE_TERRAFORM_DIR", DEFAULT_DIRECTORY),
        help=f"the Terraform root module (default: $SHIPLINE_TERRAFORM_DIR or {DEFAULT_DIRECTORY})",
    )
    parser.add_argument(
        "--terraform",
        default=os.environ.get("SHIPLINE_TERRAFORM", "terraform"),
        metavar="PATH",
        help="the terraform executable (default: $SHIPLINE_TERRAFORM or terraform on PATH)",
    )
    parser.add_argument(
        "--backend-config",
        dest="backend_configs",
        action="append",
        default=[],
        metavar="FILE|KEY=VALUE",
        help="passed to terraform init (repeatable)",
    )
    parser.add_argument(
        "--no-init", action="store_true", help="skip terraform init (already initialized)"
    )


def _planning(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out",
        default=DEFAULT_PLAN_FILE,
        metavar="FILE",
        help=f"where to save a new plan (default: ./{DEFAULT_PLAN_FILE})",
    )
    parser.add_argument(
        "--lock-timeout",
        default=os.environ.get("SHIPLINE_TERRAFORM_LOCK_TIMEOUT", tf.DEFAULT_LOCK_TIMEOUT),
        metavar="DURATION",
        help="how long to wait for Terraform's state lock, e.g. 90s, 5m "
        f"(default: $SHIPLINE_TERRAFORM_LOCK_TIMEOUT or {tf.DEFAULT_LOCK_TIMEOUT})",
    )
    parser.add_argument(
        "--var-file",
        dest="var_files",
        action="append",
        default=[],
        metavar="FILE",
        help="a .tfvars file (repeatable)",
    )
    parser.add_argument(
        "--var",
        dest="variables",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="one variable (repeatable; values are hidden in the log)",
    )
    parser.add_argument(
        "--allow-destroy",
        dest="allow_destroy",
        action="append",
        default=[],
        metavar="ADDRESS",
        help="allow the plan to delete or replace this stateful resource, "
        "e.g. aws_db_instance.main (repeatable)",
    )
    parser.add_argument(
        "-e",
        "--environment",
        metavar="ENV",
        help="with --release-id: the shipline.yml environment the release session locks",
    )
    parser.add_argument(
        "--release-id",
        metavar="ID",
        help="apply only while release ID (from `shipline lock acquire`) holds the environment "
        "lock, and record in its release record what Terraform changes",
    )


def run(args: argparse.Namespace) -> int:
    from shipline.release import infrastructure

    invocation = _invocation(args)
    if args.action == "outputs":
        return _outputs(args, invocation)
    session = _session(args)
    if session is not None:
        infrastructure.check_session(*session)
    saved_plan = args.action == "apply" and args.plan_file
    analysis, plan_file = infrastructure.plan(
        invocation,
        init=not args.no_init,
        out=Path(args.out),
        saved_plan=_existing_file(args.plan_file, "--plan-file") if saved_plan else None,
        allow_destroy=args.allow_destroy,
    )
    _report(args, analysis, plan_file, applied=False)
    if analysis.refused:
        github.error(analysis.refusal(), title="terraform plan refused")
        raise UsageError(analysis.refusal())
    if args.action == "plan":
        return EXIT_OK
    applied = infrastructure.apply(invocation, analysis, plan_file, session)
    console.info("terraform apply: done" if applied else "no changes: apply skipped")
    if args.json:
        console.emit_json(_result(analysis, plan_file, applied=applied))
    return EXIT_OK


def _session(args: argparse.Namespace) -> tuple[Environment, str] | None:
    """The environment and release id of --release-id's session (None without one); both
    options or neither."""
    release_id = getattr(args, "release_id", None)
    name = getattr(args, "environment", None)
    if not release_id and not name:
        return None
    if not release_id or not name:
        raise UsageError("--release-id and --environment go together")
    from shipline.config import USES_HISTORY, load_environment

    return load_environment(args.config, name, uses=USES_HISTORY), release_id


def _invocation(args: argparse.Namespace) -> tf.Invocation:
    directory = Path(args.dir)
    if not directory.is_dir():
        raise UsageError(f"--dir {args.dir}: no such directory")
    cwd = Path.cwd()
    for assignment in getattr(args, "variables", []):
        if "=" not in assignment or not assignment.split("=", 1)[0]:
            raise UsageError(f"--var {assignment.split('=', 1)[0]!r}: expected NAME=VALUE")
    return tf.Invocation(
        executable=args.terraform,
        directory=directory.resolve(),
        backend_configs=tuple(
            tf.absolute_backend_config(config, cwd) for config in args.backend_configs
        ),
        var_files=tuple(
            _existing_file(path, "--var-file") for path in getattr(args, "var_files", [])
        ),
        variables=tuple(getattr(args, "variables", [])),
        lock_timeout=tf.check_lock_timeout(getattr(args, "lock_timeout", tf.DEFAULT_LOCK_TIMEOUT)),
        colour=sys.stderr.isatty(),  # terraform's chatter goes to our stderr
    )


def _existing_file(path: str, option: str) -> Path:
    resolved = Path(path).resolve()
    if not resolved.is_file():
        raise UsageError(f"{option} {path}: no such file")
    return resolved


def _report(
    args: argparse.Namespace, analysis: tf.PlanAnalysis, plan_file: Path, *, applied: bool
) -> None:
    for line in tf.summary_text(analysis):
        console.info(line)
    for address in analysis.unused_allows:
        console.info(f"note: --allow-destroy {address}: the plan does not delete or replace it")
    github.append_summary(tf.summary_markdown(analysis, title=f"Terraform {args.action}"))
    github.set_outputs(
        {
            "plan_file": str(plan_file),
            "refused": analysis.refused,
            "has_changes": analysis.has_changes,
            **{f"to_{name}": count for name, count in analysis.counts.items()},
        }
    )
    if args.json and (args.action == "plan" or analysis.refused):
        console.emit_json(_result(analysis, plan_file, applied=applied))


def _result(analysis: tf.PlanAnalysis, plan_file: Path, *, applied: bool) -> dict[str, Any]:
    return {"plan_file": str(plan_file), "applied": applied, **analysis.to_dict()}


def _outputs(args: argparse.Namespace, invocation: tf.Invocation) -> int:
    from shipline.release import infrastructure

    outputs = infrastructure.outputs(invocation, init=not args.no_init)
    secret_looking = tf.output_secrets(outputs)
    _publish(outputs, secret_looking)
    for name in secret_looking:
        console.info(
            f"note: output {name} looks like a credential but is not marked sensitive: "
            "masked, not published, not printed (mark it `sensitive = true` in Terraform)"
        )
    if args.out:
        document = json.dumps(outputs, indent=2, sort_keys=True) + "\n"
        target = Path(args.out)
        # Sensitive outputs are in clear text in this file: readable by its owner only.
        descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(document)
        target.chmod(0o600)  # an existing file keeps its mode through O_TRUNC
        console.info(f"wrote {len(outputs)} outputs to {target}")
    else:
        # stdout ends up in logs: sensitive values are only ever written to --out.
        console.emit_json(_redacted(outputs, secret_looking))
    return EXIT_OK


REDACTED = "(sensitive: use --out FILE)"
SECRET_LOOKING = "(looks like a credential: use --out FILE)"


def _redacted(outputs: dict[str, Any], secret_looking: Collection[str]) -> dict[str, Any]:
    def shown(name: str, output: Any) -> Any:
        if not isinstance(output, dict):
            return output
        if output.get("sensitive"):
            return dict(output, value=REDACTED)
        if name in secret_looking:
            return dict(output, value=SECRET_LOOKING)
        return output

    return {name: shown(name, output) for name, output in outputs.items()}


def _publish(outputs: dict[str, Any], secret_looking: Mapping[str, list[str]]) -> None:
    """In Actions: mask sensitive and credential-looking outputs, expose the others as step
    outputs (a credential in a step output would reach every later step and its logs)."""
    published = {}
    for name, output in outputs.items():
        if not isinstance(output, dict):
            continue
        value = output.get("value")
        if output.get("sensitive"):
            for text in _strings(value):
                github.mask(text)
                for password in url_passwords(text):  # hidden wherever it shows up again
                    github.mask(password)
            continue
        if name in secret_looking:
            for text in secret_looking[name]:
                github.mask(text)
            continue
        published[name] = value if not isinstance(value, (dict, list)) else json.dumps(value)
    github.set_outputs(published)


def _strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [text for inner in value.values() for text in _strings(inner)]
    if isinstance(value, list):
        return [text for inner in value for text in _strings(inner)]
    return [str(value)] if value not in (None, "") else []
