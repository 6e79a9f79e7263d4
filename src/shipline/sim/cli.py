"""The sandbox's command line, for `shipline sim` and `python -m shipline.sim` alike.

Serving: the local AWS sandbox (moto's server plus ECS behaviour) on loopback until SIGINT or
SIGTERM; `seed`: the demo environment in a running sandbox, its shipline.yml and exports.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from shipline.errors import EXIT_OK

HELP = "serve the local AWS sandbox (moto + ECS scheduler) until SIGINT or SIGTERM"
SEED_HELP = (
    "seed the demo environment into a running sandbox, write shipline.yml (--config), "
    "print the export lines for `eval`"
)
DEFAULT_ENDPOINT = "http://127.0.0.1:4566"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=0, help="port to bind; 0 picks a free one (default: 0)"
    )
    parser.add_argument(
        "--policy",
        type=Path,
        help="JSON policy (shipline/schemas/sim-policy.schema.json), re-read whenever it changes",
    )
    actions = parser.add_subparsers(dest="sim_action", metavar="ACTION")
    seed = actions.add_parser("seed", help=SEED_HELP, description=SEED_HELP)
    seed.add_argument(
        "--endpoint",
        default=DEFAULT_ENDPOINT,
        help=f"URL of the running sandbox (default: {DEFAULT_ENDPOINT})",
    )
    seed.add_argument("--region", default="us-east-1", help="AWS region (default: us-east-1)")
    seed.add_argument(
        "--wait",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="how long to wait for the sandbox to answer (default: 30)",
    )


def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT or SIGTERM, or with the `seed` action seed a running sandbox."""
    if getattr(args, "sim_action", None) == "seed":
        return seed(args)
    from shipline.sim.policy import load_policy

    if args.policy is not None:
        load_policy(args.policy)  # a bad file: one line and exit 2, before moto loads

    from shipline.sim.server import running_sandbox

    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with running_sandbox(host=args.host, port=args.port, policy_path=args.policy) as sandbox:
            sys.stdout.write(sandbox.url + "\n")
            sys.stdout.flush()
            while not stop.wait(0.1):
                pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return EXIT_OK


def seed(args: argparse.Namespace) -> int:
    """Progress on stderr; on stdout only the export lines, so `eval "$(...)"` takes them."""
    from shipline.console import info
    from shipline.sim.standalone import export_lines, seed_sandbox

    config_path = Path(getattr(args, "config", None) or "shipline.yml")
    info(f"sim seed: seeding the demo environment into {args.endpoint}")
    seeded = seed_sandbox(args.endpoint, config_path, region=args.region, reach_timeout=args.wait)
    environment = seeded.environment
    services = ", ".join(environment.services.values())
    info(f"sim seed: cluster {environment.cluster}: {services} (running v1)")
    info(f"sim seed: wrote {config_path} (environment sim)")
    for key, reference in seeded.next_images.items():
        info(f"sim seed: pushed {reference} for a first deploy ({key})")
    sys.stdout.write("\n".join(export_lines(environment, seeded.next_images)) + "\n")
    sys.stdout.flush()
    return EXIT_OK
