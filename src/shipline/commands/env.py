"""`shipline env check|from-terraform`: the app's environment variables, per the hosting guide."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from shipline import console
from shipline.commands import add_from_terraform, read_terraform_outputs
from shipline.errors import EXIT_OK, EXIT_REFUSED, UsageError

HELP = "check the app's environment variables, or derive them from Terraform outputs"
PROFILES = ("api", "web", "worker")
FORMATS = ("dotenv", "github", "json")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    check = actions.add_parser(
        "check",
        help="check variables against the hosting guide's rules; exit 2 listing every error",
        description="Check an environment (the process environment, or --env-file) against "
        "the rules of a profile. Exit 0 when clean (warnings are printed), 2 on any error.",
    )
    check.add_argument("--profile", required=True, choices=PROFILES, help="which service's rules")
    check.add_argument(
        "--env-file", metavar="FILE", help="a dotenv file instead of the process env"
    )
    check.add_argument(
        "--environment-name",
        metavar="NAME",
        help="the environment checked; `production` turns on the production rules",
    )
    check.add_argument("--strict", action="store_true", help="treat warnings as errors")
    check.add_argument(
        "--terraform-outputs",
        metavar="FILE",
        help="`terraform output -json` of the environment: the rules that depend on how "
        "Terraform ran read it (e.g. whether REDIS_URL must carry the AUTH token)",
    )
    check.add_argument(
        "--api-replicas",
        type=int,
        metavar="N",
        help="the API's desired count: above 1, billing retries must be off on the API",
    )
    terraform = add_from_terraform(
        actions,
        help="turn `terraform output -json` into the app's variables",
        description="Map the Terraform blueprint's outputs to the app's environment variables "
        "(see docs/configuration.md). `github` appends them to $GITHUB_ENV and masks the "
        "sensitive ones.",
    )
    terraform.add_argument("--format", choices=FORMATS, default="dotenv", help="default: dotenv")


def run(args: argparse.Namespace) -> int:
    if args.action == "check":
        return check(args)
    return from_terraform(args)


def check(args: argparse.Namespace) -> int:
    from shipline import github
    from shipline.env.dotenv import read_env_file
    from shipline.env.inventory import load_inventory
    from shipline.env.rules import ENVIRONMENT, Problem, check_environment, count_errors
    from shipline.sensitive import display_value, mask_text, secret_values

    if args.api_replicas is not None and args.api_replicas < 0:
        raise UsageError("--api-replicas must be 0 or more")
    inventory = load_inventory()
    if args.env_file:
        values = read_env_file(args.env_file)
        source = args.env_file
    else:
        values = dict(os.environ)
        source = "process environment"
    terraform_outputs = None
    if args.terraform_outputs:
        parsed, _ = read_terraform_outputs(args.terraform_outputs)
        terraform_outputs = {name: output.value for name, output in parsed.items()}
    secrets = secret_values(values, inventory)
    problems = check_environment(
        values,
        args.profile,
        environment_name=args.environment_name,
        strict=args.strict,
        api_replicas=args.api_replicas,
        inventory=inventory,
        terraform_outputs=terraform_outputs,
    )
    production = inventory.is_production(args.environment_name) or inventory.is_production(
        values.get(ENVIRONMENT)
    )
    errors = count_errors(problems)
    warnings = len(problems) - errors

    def shown(text: str) -> str:
        return mask_text(text, secrets)

    def problem_dict(problem: Problem) -> dict[str, Any]:
        return {
            key: shown(value) if isinstance(value, str) else value
            for key, value in problem.to_dict().items()
        }

    mode = ", production" if production else ""
    mode += ", strict" if args.strict else ""
    title = f"env check ({args.profile} profile{mode}, {source})"
    for problem in problems:
        console.info(shown(f"{problem.severity:<7}  {problem.text()}"))
        console.info(shown(f"         fix: {problem.fix}"))
        annotate = github.error if problem.is_error else github.warning
        annotate(shown(f"{problem.text()}. Fix: {problem.fix}"), title=f"env check: {args.profile}")
    verdict = "failed" if errors else "ok"
    console.info(f"{title}: {verdict}, {_count(errors, 'error')}, {_count(warnings, 'warning')}")
    if problems:
        rows = [
            [problem.severity, problem.variable or "", shown(problem.message), shown(problem.fix)]
            for problem in problems
        ]
        github.append_summary(
            f"### {title}: {verdict}\n\n"
            + github.markdown_table(["", "Variable", "Problem", "Fix"], rows)
        )
    else:
        github.append_summary(f"### {title}: ok\n")
    if args.json:
        names = [var.name for var in inventory.for_profile(args.profile)]
        console.emit_json(
            {
                "ok": errors == 0,
                "profile": args.profile,
                "source": source,
                "production": production,
                "strict": args.strict,
                "errors": errors,
                "warnings": warnings,
                "problems": [problem_dict(problem) for problem in problems],
                "variables": {
                    name: shown(display_value(name, values[name], inventory))
                    for name in names
                    if name in values
                },
            }
        )
    return EXIT_REFUSED if errors else EXIT_OK


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


def from_terraform(args: argparse.Namespace) -> int:
    from shipline import github
    from shipline.env.from_terraform import env_from_terraform, render_dotenv, render_github_env
    from shipline.env.inventory import load_inventory

    outputs, source = read_terraform_outputs(args.outputs)
    inventory = load_inventory()
    mapped = env_from_terraform(outputs, inventory, source)
    output_format = "json" if args.json else args.format
    set_names = {item.name for item in mapped}
    for item in mapped:
        console.info(f"{item.name} <- {item.source}")
    for var in inventory.variables:
        if var.set_by_terraform and var.name not in set_names:
            sources = [*var.terraform_inputs, var.terraform_fallback_output]
            wanted = " or ".join(name for name in sources if name)
            console.info(f"{var.name}: not set (no value in output {wanted})")
    if output_format == "dotenv":
        sys.stdout.write(render_dotenv(mapped))
        sys.stdout.flush()
    elif output_format == "json":
        console.emit_json({item.name: item.value for item in mapped})
    else:
        target = os.environ.get("GITHUB_ENV")
        if not target:
            raise UsageError("--format github needs $GITHUB_ENV (set by the GitHub Actions runner)")
        for item in mapped:
            if item.sensitive:
                github.mask(item.value)
            github.mask_secret(item.name, item.value)
        try:
            with Path(target).open("a", encoding="utf-8") as handle:
                handle.write(render_github_env(mapped))
        except OSError as exc:
            raise UsageError(f"cannot append to $GITHUB_ENV ({target}): {exc.strerror}") from exc
        console.info(f"env from-terraform: {len(mapped)} variables added to $GITHUB_ENV")
    return EXIT_OK
