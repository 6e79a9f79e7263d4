"""The variable tables of docs/configuration.md, generated from the inventory.

`python -m shipline.env.docs` prints the tables; `--update docs/configuration.md` rewrites the
generated blocks of the page in place (between `<!-- BEGIN GENERATED: NAME -->` and
`<!-- END GENERATED: NAME -->`); `--check FILE` exits 1 when the page is out of date.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from shipline.env.inventory import Default, Inventory, Variable, describe_condition, load_inventory

_BLOCK = re.compile(
    r"(<!-- BEGIN GENERATED: (?P<name>[a-z-]+) -->\n)(?P<body>.*?)"
    r"(<!-- END GENERATED: (?P=name) -->)",
    re.DOTALL,
)
_FORMATS = {
    "text": "text",
    "url": "http(s) URL",
    "https_url": "https URL",
    "postgres_url": "postgresql:// URL",
    "redis_url": "redis:// or rediss:// URL",
    "rediss_url": "rediss:// URL",
    "secretsmanager_arn": "Secrets Manager ARN",
    "aws_region": "AWS region",
    "s3_bucket": "S3 bucket name",
    "host_list": "host names, comma-separated",
    "origin_list": "origins, comma-separated",
    "enum": "one of",
    "boolean": "true / false",
}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _default_text(default: Default | None) -> str:
    return default.describe() if default else ""


def _format_text(var: Variable) -> str:
    text = _FORMATS[var.format]
    if var.format == "enum":
        text += " " + ", ".join(f"`{value}`" for value in var.values)
        if var.open_enum:
            text += " (others: warning)"
    if var.production_format:
        text += f"; production: {_FORMATS[var.production_format]}"
    if var.format_when:
        rule = var.format_when
        text += f"; {_FORMATS[rule.format]} when {describe_condition(rule.when)} ({rule.severity})"
    if var.password_when_terraform_output:
        text += f"; with its password when output `{var.password_when_terraform_output}` is set"
    if var.covers_hosts_of:
        text += "; covers the host of " + ", ".join(var.covers_hosts_of)
    if var.names_secret is not None:
        when = f" when {describe_condition(var.names_secret)}" if var.names_secret else ""
        text += f"; the secret must exist{when} (deploy preflight)"
    return text


def variables_table(inventory: Inventory) -> str:
    rows = [
        "| Variable | Profiles | Required | Default | Format | Secret | Terraform input "
        "| Meaning |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for var in inventory.variables:
        secret = "must come from a secret" if var.from_secret else ""
        inputs = ", ".join(f"`{name}`" for name in var.terraform_inputs)
        if not inputs and var.terraform_fallback_output:
            inputs = f"(output `{var.terraform_fallback_output}`)"
        cells = [
            f"`{var.name}`",
            ", ".join(var.profiles),
            var.required.describe(),
            _default_text(var.default),
            _format_text(var),
            secret,
            inputs,
            var.description,
        ]
        rows.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
    return "\n".join(rows) + "\n"


def terraform_table(inventory: Inventory) -> str:
    rows = ["| Terraform output | Variable | Notes |", "| --- | --- | --- |"]
    for var in inventory.variables:
        if not var.set_by_terraform:
            continue
        notes = []
        preferred = var.terraform_preferred_input
        if preferred:
            notes.append(
                f"`{preferred.input}` wins when {describe_condition(preferred.when)}, "
                f"else `{var.terraform_input}`"
            )
        if var.terraform_fallback_output and var.terraform_input:
            notes.append(f"when empty: output `{var.terraform_fallback_output}`")
        elif var.terraform_fallback_output:
            notes.append("derived by the blueprint")
        names = [name for name in (*var.terraform_inputs, var.terraform_fallback_output) if name]
        if var.terraform_default:
            when = "when empty" if names else "always"
            notes.append(f"{when}: {_default_text(var.terraform_default)}")
        if var.covers_hosts_of:
            notes.append("plus the hosts of " + ", ".join(var.covers_hosts_of) + " it lacks")
        names = list(var.terraform_inputs) or names[:1]
        outputs = ", ".join(f"`{name}`" for name in names) or "(none)"
        cells = [outputs, f"`{var.name}`", "; ".join(notes)]
        rows.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
    for name, description in inventory.terraform_extra_outputs.items():
        if any(
            var.terraform_fallback_output == name and not var.terraform_input
            for var in inventory.variables
        ):
            continue  # already its variable's row
        rows.append(f"| `{name}` | (derived) | {_cell(description)} |")
    return "\n".join(rows) + "\n"


def topology_table(inventory: Inventory) -> str:
    rows = ["| Service | Variable | Value |", "| --- | --- | --- |"]
    for name, value in inventory.api_when_replicated.items():
        rows.append(f"| api (more than one replica) | `{name}` | `{value}` |")
    for name, value in inventory.worker_topology.items():
        rows.append(f"| worker (always) | `{name}` | `{value}` |")
    return "\n".join(rows) + "\n"


def generated_blocks(inventory: Inventory | None = None) -> dict[str, str]:
    inventory = inventory or load_inventory()
    return {
        "variables": variables_table(inventory),
        "terraform": terraform_table(inventory),
        "topology": topology_table(inventory),
    }


def document_blocks(text: str) -> dict[str, str]:
    """The generated blocks as they stand in a page."""
    return {match["name"]: match["body"] for match in _BLOCK.finditer(text)}


def updated_document(text: str, blocks: dict[str, str]) -> str:
    def swap(match: re.Match[str]) -> str:
        body = blocks.get(match["name"], match["body"])
        return f"{match[1]}{body}{match[4]}"

    return _BLOCK.sub(swap, text)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shipline.env.docs", description=__doc__)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--update", metavar="FILE", help="rewrite the generated blocks of FILE")
    group.add_argument("--check", metavar="FILE", help="exit 1 when FILE's blocks are stale")
    args = parser.parse_args(argv)
    blocks = generated_blocks()
    if args.update or args.check:
        path = Path(args.update or args.check)
        text = path.read_text(encoding="utf-8")
        if args.check:
            stale = sorted(
                name for name, body in blocks.items() if document_blocks(text).get(name) != body
            )
            for name in stale:
                sys.stderr.write(f"{path}: generated block {name!r} is out of date\n")
            return 1 if stale else 0
        path.write_text(updated_document(text, blocks), encoding="utf-8")
        return 0
    for name, body in blocks.items():
        sys.stdout.write(
            f"<!-- BEGIN GENERATED: {name} -->\n{body}<!-- END GENERATED: {name} -->\n\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
