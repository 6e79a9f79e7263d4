"""`shipline sim`: the local AWS sandbox (moto's server plus ECS behaviour) on loopback."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from shipline.errors import EXIT_OK

HELP = "serve the local AWS sandbox (moto + ECS scheduler) until SIGINT or SIGTERM"


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


def run(args: argparse.Namespace) -> int:
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
