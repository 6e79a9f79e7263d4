"""`shipline promote --from ENV --to ENV [--release ID]`: a release's exact images, deployed to
the next environment. The flow is `shipline.release.promote`; the report is the deploy's."""

from __future__ import annotations

import argparse

HELP = "deploy the exact image digests of a release of one environment to another"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--from", dest="source", required=True, metavar="ENV", help="the environment it ran in"
    )
    parser.add_argument(
        "--to", dest="target", required=True, metavar="ENV", help="the environment to deploy to"
    )
    parser.add_argument(
        "--release",
        metavar="ID",
        help="the release of --from to promote (default: its live release)",
    )
    parser.add_argument(
        "--skip-preflight",
        action="append",
        default=[],
        metavar="CHECK",
        help="skip one named preflight check of the deploy on purpose (see docs/deploy.md)",
    )


def run(args: argparse.Namespace) -> int:
    from shipline import github
    from shipline.commands.deploy import report
    from shipline.config import USES_HISTORY, load_environment
    from shipline.errors import ShiplineError
    from shipline.release.promote import PromoteRequest, promote
    from shipline.release.stopping import StopSignal

    try:
        request = PromoteRequest(
            source=load_environment(args.config, args.source, uses=USES_HISTORY),
            target=load_environment(args.config, args.target),
            release_id=args.release,
            skip_preflight=frozenset(args.skip_preflight),
        )
        stop = StopSignal()
        with stop.catching():
            result = promote(request, stop=stop)
    except ShiplineError as exc:
        github.error(exc.message, title="shipline promote refused")
        github.set_outputs({"release_id": "", "status": "refused"})
        raise  # cli.main prints the error (and with --json its document)
    report(result, request.target.name, args.json)
    return result.exit_code
