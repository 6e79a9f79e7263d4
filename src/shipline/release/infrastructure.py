"""Terraform within a release: init, plan into a file, read the plan back, apply.

The plan is read through `terraform show -json` and refused (UsageError, exit 2, nothing
applied) when it deletes or replaces a resource that may hold data, unless allowed by address
(`shipline.terraform.analyze_plan`). A plan that changes nothing is not applied. Inside a
release session (`release_id`), the lock must be that release's before anything runs, the
record learns what the apply is about to change and whether it finished (`release.session`).
A failed or interrupted apply is exit 3: some resources may have changed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipline import console, github
from shipline import terraform as tf
from shipline.errors import EXIT_DAMAGED, ShiplineError

if TYPE_CHECKING:
    from shipline.config import Environment


def check_session(environment: Environment, release_id: str) -> None:
    """Refuse early, before init and plan, a release id that does not hold the lock."""
    from shipline.release.store import Lock

    Lock(environment).require(release_id)


def plan(
    invocation: tf.Invocation,
    *,
    init: bool,
    out: Path,
    saved_plan: Path | None,
    allow_destroy: list[str],
) -> tuple[tf.PlanAnalysis, Path]:
    """Init (unless told not to), plan into `out` (or take `saved_plan` as it is), and read
    the plan back: its analysis and the plan file."""
    if init:
        _step(tf.init_command(invocation), invocation)
    plan_file = saved_plan
    if plan_file is None:
        plan_file = out.resolve()
        _step(tf.plan_command(invocation, plan_file), invocation)
    command = tf.show_command(invocation, plan_file)
    console.info(f"$ {tf.printable(command)}")
    text = tf.run(command, capture=True, invocation=invocation)
    document = tf.parse_plan(text, source=f"terraform show -json {plan_file}")
    return tf.analyze_plan(document, allow_destroy=allow_destroy), plan_file


def apply(
    invocation: tf.Invocation,
    analysis: tf.PlanAnalysis,
    plan_file: Path,
    session: tuple[Environment, str] | None,
) -> bool:
    """Apply the plan (not refused) unless it changes nothing; True when it was applied.

    `session`: the environment and release id whose record follows the apply."""
    from shipline.release import session as release_session

    if not analysis.has_changes:
        if session is not None:
            release_session.apply_skipped(*session)
        return False
    if session is not None:
        environment, release_id = session
        release_session.before_apply(environment, release_id, analysis.changes)
        console.info(f"release {release_id} holds the lock of {environment.name}: applying")
    try:
        _step(tf.apply_command(invocation, plan_file), invocation)
    except tf.StateLocked:
        raise  # the lock was never taken: nothing applied
    except tf.TerraformInterrupted as exc:
        raise ShiplineError(
            f"{exc.message}; some resources may have changed: check the state before retrying",
            exit_code=EXIT_DAMAGED,
        ) from None
    except tf.TerraformFailed as exc:
        if session is not None:
            release_session.after_apply(*session, analysis.changes, ok=False)
        raise ShiplineError(
            f"terraform apply failed (exit {exc.returncode}): some resources may have changed; "
            "read its output above and check the state before retrying",
            exit_code=EXIT_DAMAGED,
        ) from None
    if session is not None:
        release_session.after_apply(*session, analysis.changes, ok=True)
    return True


def outputs(invocation: tf.Invocation, *, init: bool) -> dict[str, Any]:
    """`terraform output -json` as a mapping of output name -> {value, sensitive, type}."""
    if init:
        _step(tf.init_command(invocation), invocation)
    command = tf.output_command(invocation)
    console.info(f"$ {tf.printable(command)}")
    text = tf.run(command, capture=True, invocation=invocation)
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        raise ShiplineError("terraform output -json did not print JSON") from None
    if not isinstance(document, dict):
        raise ShiplineError("terraform output -json did not print an object")
    return document


def _step(command: list[str], invocation: tf.Invocation) -> None:
    console.info(f"$ {tf.printable(command)}")
    with github.group(f"terraform {command[2]}"):
        tf.run(command, invocation=invocation)
