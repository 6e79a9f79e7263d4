"""How long `shipline --help` and `shipline config check` take to start, as a user runs them.

Each command runs N times as a fresh process (the installed `.venv/bin/shipline` entry point,
or `python -m shipline` with `--module`); prints the median, min and max wall time beside the
0.3 s goal. Run: `.venv/bin/python bench/startup.py [--runs N]`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "tests" / "fixtures" / "config" / "valid.yml"
GOAL_SECONDS = 0.3
# The variables the example shipline.yml refers to.
CONFIG_VARIABLES = {"ECS_CLUSTER_NAME": "app-production", "API_BASE_URL": "https://api.example.com"}


def entry_point(module: bool) -> list[str]:
    script = Path(sys.executable).with_name("shipline")
    if module or not script.exists():
        return [sys.executable, "-m", "shipline"]
    return [str(script)]


def timed_runs(command: list[str], runs: int) -> list[float]:
    environment = {**os.environ, **CONFIG_VARIABLES}
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run(command, env=environment, capture_output=True, check=False)
        seconds.append(time.perf_counter() - started)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(command)} exited {done.returncode}: {done.stderr!r}")
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="runs per command (default 15)")
    parser.add_argument("--module", action="store_true", help="run `python -m shipline`")
    args = parser.parse_args(argv)
    base = entry_point(args.module)
    commands = {
        "shipline --help": [*base, "--help"],
        "shipline config check": [*base, "config", "check", "--config", str(CONFIG)],
    }
    timed_runs([*base, "--help"], 2)  # warm the file cache and .pyc files first
    print(f"start-up, {args.runs} runs each ({' '.join(base)}); goal < {GOAL_SECONDS:g} s")
    print(f"{'command':<24} {'median':>8} {'min':>8} {'max':>8}  goal")
    for label, command in commands.items():
        seconds = timed_runs(command, args.runs)
        median = statistics.median(seconds)
        verdict = "met" if median < GOAL_SECONDS else "MISSED"
        print(f"{label:<24} {median:>7.3f}s {min(seconds):>7.3f}s {max(seconds):>7.3f}s  {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
