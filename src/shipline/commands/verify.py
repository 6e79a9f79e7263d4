"""`shipline verify`: the health checks of an environment, alone (a deploy's step 6)."""

from __future__ import annotations

import argparse

from shipline import console
from shipline.commands import add_environment

HELP = "check every service's health URL: 2xx several times in a row within the timeout"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_environment(parser)
    parser.add_argument(
        "--service",
        action="append",
        default=[],
        metavar="KEY",
        help="check only this service (repeatable; default: every service with a health URL)",
    )


def run(args: argparse.Namespace) -> int:
    from shipline import github
    from shipline.config import load_environment
    from shipline.errors import EXIT_FAILED, EXIT_OK, UsageError
    from shipline.release.health import HealthCheck, verify
    from shipline.release.stopping import Interrupted, StopSignal

    environment = load_environment(args.config, args.environment)
    unknown = [key for key in args.service if key not in environment.services]
    if unknown:
        raise UsageError(
            f"--service {', '.join(unknown)}: not a service of '{environment.name}' "
            f"(known: {', '.join(environment.services)})"
        )
    chosen = args.service or list(environment.services)
    checks = [
        HealthCheck(
            key,
            environment.services[key].health or "",
            environment.services[key].health_expect,
        )
        for key in chosen
        if environment.services[key].health
    ]
    if not checks:
        raise UsageError(f"no health URL configured for {', '.join(chosen)}: nothing to verify")
    stop = StopSignal()
    try:
        with stop.catching(), github.group("verify"):
            results = verify(checks, environment.health, stop=stop, report=console.info)
    except Interrupted as exc:
        console.info(f"{exc}: verification stopped")
        return EXIT_FAILED
    rows = [[r.service, r.url, "ok" if r.ok else "FAILED", r.status, r.attempts] for r in results]
    github.append_summary(
        f"## shipline verify `{environment.name}`\n\n"
        + github.markdown_table(["service", "url", "result", "status", "attempts"], rows)
    )
    healthy = all(result.ok for result in results)
    github.set_outputs({"healthy": healthy})
    if args.json:
        console.emit_json(
            {"healthy": healthy, "results": [result.to_record() for result in results]}
        )
    for result in results:
        if not result.ok:
            github.error(f"{result.service}: {result.error}", title="shipline verify")
    console.result(
        f"{environment.name}: {'healthy' if healthy else 'NOT healthy'}", as_json=args.json
    )
    return EXIT_OK if healthy else EXIT_FAILED
