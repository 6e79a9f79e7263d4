"""`shipline lock status|acquire|release -e ENV`: the environment lock a release holds.

`acquire` opens a release session that spans workflow steps (lock + in_progress record, the
release id on stdout and as the `release_id` output); `release --release-id ID --finish-record`
is its clean-up (see shipline.release.session).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from shipline import console
from shipline.commands import add_environment
from shipline.errors import EXIT_OK, LockedError, UsageError

if TYPE_CHECKING:
    from shipline.config import Environment
    from shipline.release.store import Lock

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
    acquire = actions.add_parser(
        "acquire",
        help="lock the environment for a new release; print its release id",
        description=(
            "Take the environment lock for a new release id and write its in_progress deploy "
            "record, before anything changes (e.g. before `terraform apply`). The later steps "
            "name the release with --release-id: `shipline terraform apply`, `shipline deploy`, "
            "and `shipline lock release --release-id ID --finish-record` as the clean-up."
        ),
    )
    acquire.add_argument(
        "--ttl",
        type=float,
        metavar="SECONDS",
        help="how long the lock holds without renewal (default: the deploy's time + 30 min)",
    )
    for action in (status, acquire, release):
        add_environment(action)
    release.add_argument(
        "--release-id", metavar="ID", help="remove the lock only if this release holds it"
    )
    release.add_argument(
        "--force", action="store_true", help="remove the lock even though it has not expired"
    )
    release.add_argument(
        "--finish-record",
        action="store_true",
        help="with --release-id: end that release's record as failed if it is still "
        "in_progress (the clean-up of a run that stopped before its deploy step)",
    )


def run(args: argparse.Namespace) -> int:
    from shipline.config import USES_HISTORY, load_environment
    from shipline.release.store import Lock

    environment = load_environment(args.config, args.environment, uses=USES_HISTORY)
    lock = Lock(environment)
    if args.action == "status":
        return show_status(lock, args.json)
    if args.action == "acquire":
        return acquire(environment, args.ttl, args.json)
    if args.finish_record:
        if not args.release_id:
            raise UsageError("--finish-record needs --release-id")
        return finish(environment, args.release_id, args.json)
    return release(lock, args.release_id, args.force, args.json)


def acquire(environment: Environment, ttl: float | None, as_json: bool) -> int:
    from shipline import github
    from shipline.release.session import open_session

    if ttl is not None and ttl <= 0:
        raise UsageError("--ttl must be a positive number of seconds")
    session = open_session(environment, ttl)
    github.set_outputs({"release_id": session.release_id, "record": session.record_uri})
    console.info(
        f"{environment.name}: locked for release {session.release_id} until "
        f"{session.lock.expires_at}; record {session.record_uri}"
    )
    if as_json:
        console.emit_json(
            {
                "environment": environment.name,
                "record": session.record_uri,
                **session.lock.to_dict(),
            }
        )
    else:
        print(session.release_id)
    return EXIT_OK


def finish(environment: Environment, release_id: str, as_json: bool) -> int:
    from shipline import github
    from shipline.release.session import end_session, terraform_lines

    ended = end_session(
        environment, release_id, "the run stopped before the release ended (clean-up step)"
    )
    record = ended.record
    name = environment.name
    if record is None:
        console.info(f"{name}: release {release_id} has no record")
    elif ended.finished_here:
        console.info(f"{name}: release {release_id} ended as {record.status}: {record.error}")
        changed = terraform_lines(record.terraform)
        markdown = [f"## Release `{release_id}` of `{name}` ended by the clean-up: {record.status}"]
        if changed:
            markdown += ["", "Terraform changed, within this release:", ""]
            markdown += [f"- `{line}`" for line in changed]
        github.append_summary("\n".join(markdown) + "\n")
    else:
        console.info(f"{name}: release {release_id} had already ended ({record.status})")
    if ended.released is not None:
        console.info(f"{name}: released the lock of release {release_id}")
    else:
        console.info(f"{name}: release {release_id} did not hold the lock; nothing to release")
    if as_json:
        console.emit_json(
            {
                "environment": name,
                "release_id": release_id,
                "status": record.status if record else None,
                "finished_here": ended.finished_here,
                "released": ended.released.to_dict() if ended.released else None,
            }
        )
    return EXIT_OK


def show_status(lock: Lock, as_json: bool) -> int:
    held = lock.status()
    name = lock.environment.name
    if as_json:
        result = {"environment": name, "locked": held is not None}
        if held is not None:
            result.update(held.to_dict(), expired=held.expired())
        console.emit_json(result)
    if held is None:
        console.result(f"{name}: not locked", as_json=as_json)
    else:
        state = "EXPIRED (the next release takes it over)" if held.expired() else "locked"
        console.result(f"{name}: {state}: {held.describe()}", as_json=as_json)
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
