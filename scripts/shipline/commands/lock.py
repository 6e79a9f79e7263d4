"""`shipline lock status|release -e ENV`: the environment lock a release holds while it runs."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from shipline import console
from shipline.errors import EXIT_OK, LockedError

if TYPE_CHECKING:
    from shipline.release.history import Lock

HELP = "show or release an environment's release lock"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    status = actions.add_parser("status", help="who holds the lock, since when, until when")
    release = actions.add_parser(
        "release",
        help="remove the lock left by a run that is gone",
        description=(
            "Remove the environment lock. An expired lock is removed at once; a lock that is "
            "still valid only with --force (its run may still be going) or with --release-id "
            "naming the release that holds it."
        ),
    )
    for action in (status, release):
        action.add_argument("-e", "--environment", required=True, metavar="ENV", help="environment")
    release.add_argument(
        "--release-id", metavar="ID", help="remove the lock only if this release holds it"
    )
    release.add_argument(
        "--force", action="store_true", help="remove the lock even though it has not expired"
    )


def run(args: argparse.Namespace) -> int:
    from shipline.config import load_config
    from shipline.release.history import Lock

    environment = load_config(args.config).environment(args.environment)
    lock = Lock(environment)
    if args.action == "status":
        return show_status(lock, args.json)
    return release(lock, args.release_id, args.force, args.json)


def show_status(lock: Lock, as_json: bool) -> int:
    held = lock.status()
    name = lock.environment.name
    if as_json:
        result = {"environment": name, "locked": held is not None}
        if held is not None:
            result.update(held.to_dict(), expired=held.expired())
        console.emit_json(result)
    if held is None:
        console.info(f"{name}: not locked")
    else:
        state = "EXPIRED (the next release takes it over)" if held.expired() else "locked"
        console.info(f"{name}: {state}: {held.describe()}")
    return EXIT_OK


def release(lock: Lock, release_id: str | None, force: bool, as_json: bool) -> int:
    held = lock.status()
    name = lock.environment.name
    if held is None:
        if as_json:
            console.emit_json({"environment": name, "released": None})
        console.info(f"{name}: not locked; nothing to release")
        return EXIT_OK
    if release_id is None and not force and not held.expired():
        raise LockedError(
            f"{name} is locked by {held.describe()} and the lock has not expired: its run may "
            "still be going; pass --force to release it anyway"
        )
    removed = lock.release(release_id if release_id is not None else held.release_id)
    if as_json:
        console.emit_json({"environment": name, "released": removed.to_dict() if removed else None})
    console.info(f"{name}: released the lock of {held.describe()}")
    return EXIT_OK
