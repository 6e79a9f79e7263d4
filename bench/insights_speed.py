"""How long `shipline insights` takes to read a long history: 1,000 records in the sandbox.

Starts `shipline sim`, seeds the environment (its history bucket), writes 1,000 release
records of environment "sim" (deploys over 60 days, one in eight failed or rolled back, a
manual rollback now and then, most with a commit time), then runs `shipline insights -e sim
--json` three times over the whole history (--since 61d: every record read) and three times
over the default 30 days (only the records the window needs), in this process. Prints the
median and slowest wall time of the command and of the history read it reports.
Goal: under 5 s for 1,000 records. Run: `.venv/bin/python bench/insights_speed.py`.
"""

from __future__ import annotations

import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import redirect_stdout
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from shipline.sim.policy import write_policy
from support.sim_sandbox import DEFAULT_POLICY, aws_environment, read_first_line, sim_command

RECORDS = 1000
RUNS = 3
FLOOR_FACTOR = 1.5  # reading may cost this much more than the bare calls
GOAL_SECONDS = 5.0
TD = "arn:aws:ecs:us-east-1:123456789012:task-definition/api:{}"


def history_records(count: int, now: datetime) -> list[dict[str, object]]:
    """`count` records of environment "sim", oldest first, ending an hour before `now`."""
    from shipline.release.records import (
        CommitRecord,
        ReleaseRecord,
        ServiceRecord,
        new_release_id,
        utc_timestamp,
    )

    step = timedelta(days=60) / count
    documents = []
    last_good: str | None = None
    for index in range(count):
        started = now - timedelta(hours=1) - step * (count - index)
        finished = started + timedelta(minutes=4)
        rollback = index % 50 == 49 and last_good is not None
        status = "rolled_back" if index % 8 == 7 else "succeeded"
        record = ReleaseRecord(
            release_id=new_release_id(started),
            environment="sim",
            kind="rollback" if rollback else "deploy",
            started_at=utc_timestamp(started),
            rolled_back_to=last_good if rollback else None,
            services={"api": ServiceRecord("app-api", TD.format(index + 1), TD.format(index), 2)},
        )
        if index % 10:
            record.commit = CommitRecord(
                f"{index:040x}", utc_timestamp(started - timedelta(hours=3))
            )
        record.finish(status, None if status == "succeeded" else "unhealthy", now=finished)  # type: ignore[arg-type]
        if status == "succeeded" and not rollback:
            last_good = record.release_id
        documents.append(record.to_dict())
    return documents


def raw_read_seconds(s3: Any, bucket: str, documents: list[dict[str, object]]) -> float:
    """How long the bare GetObject calls for every record take (the sandbox's and boto3's share,
    with nothing of shipline's): the floor under any reading of the history."""
    keys = [f"releases/sim/{document['release_id']}.json" for document in documents]

    def get(key: str) -> bytes:
        body: bytes = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        return body

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(get, keys))
    return time.perf_counter() - started


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="shipline-bench-") as name:
        workdir = Path(name)
        policy = workdir / "policy.json"
        write_policy(policy, DEFAULT_POLICY)
        process = subprocess.Popen(
            sim_command("--port", "0", "--policy", str(policy)), stdout=subprocess.PIPE
        )
        try:
            url = read_first_line(process, 60)
            os.environ.update(aws_environment(url))
            from shipline import aws
            from shipline.cli import main as shipline
            from shipline.sim.seed import seed_environment

            environment = seed_environment(url)
            config = workdir / "shipline.yml"
            config.write_text(yaml.safe_dump(environment.shipline_config()), encoding="utf-8")
            s3 = aws.client("s3")
            documents = history_records(RECORDS, datetime.now(UTC))

            def put(document: dict[str, object]) -> None:
                s3.put_object(
                    Bucket=environment.history_bucket,
                    Key=f"releases/sim/{document['release_id']}.json",
                    Body=json.dumps(document, indent=2).encode(),
                )

            with ThreadPoolExecutor(max_workers=8) as pool:
                list(pool.map(put, documents))
            floor = raw_read_seconds(s3, environment.history_bucket, documents)
            print(
                f"the floor: {RECORDS} bare GetObject calls (boto3, 8 threads, no parsing) "
                f"take {floor:.2f} s against this sandbox on this machine"
            )
            slowest = 0.0
            # The whole history (every record read), then the default window (about half).
            for since in ("61d", "30d"):
                walls, reads = [], []
                for _ in range(RUNS):
                    out = io.StringIO()
                    argv = ["insights", "--config", str(config), "-e", "sim", "--json"]
                    started = time.perf_counter()
                    with redirect_stdout(out):
                        code = shipline([*argv, "--since", since])
                    walls.append(time.perf_counter() - started)
                    if code != 0:
                        raise SystemExit(f"shipline insights exited {code}")
                    result = json.loads(out.getvalue())
                    reads.append(result["read"]["seconds"])
                read = result["read"]
                print(
                    f"--since {since}: read {read['records']} of {read['listed']} records; "
                    f"whole command median {statistics.median(walls):.2f} s, slowest "
                    f"{max(walls):.2f} s; reading median {statistics.median(reads):.2f} s"
                )
                if read["records"] == RECORDS:
                    slowest = max(walls)
            total = result["total"]
            print(
                f"figures (last 30 days): {total['deployment_frequency']['deployments']} deploys, "
                f"change failure rate {total['change_failure_rate']['rate']:.0%}; "
                f"goal: {RECORDS} records under {GOAL_SECONDS:.0f} s "
                f"({'met' if slowest < GOAL_SECONDS else 'missed'}; "
                f"{slowest - floor:+.2f} s over the bare GetObject floor)"
            )
            # A regression is reading far slower than the calls themselves; the goal may sit
            # below what the sandbox can answer on a small machine.
            return 0 if slowest < max(GOAL_SECONDS, FLOOR_FACTOR * floor) else 1
        finally:
            process.terminate()
            process.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())
