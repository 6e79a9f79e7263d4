"""What every fuzzed command may do: succeed, or refuse with exit 2 and a reason; nothing else."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from shipline.cli import main


@dataclass
class Outcome:
    code: int
    out: str
    err: str


def run_main(capsys, argv: list[str]) -> Outcome:
    """`shipline ARGV` in this process; argparse refusals (SystemExit) become their exit code."""
    capsys.readouterr()
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse: usage line and `error:` line, exit 2
        code = exc.code if isinstance(exc.code, int) else 2
    captured = capsys.readouterr()
    return Outcome(code, captured.out, captured.err)


def assert_succeeds_or_refuses(outcome: Outcome) -> None:
    """Exit 0, or exit 2 with a reason on stderr: never a traceback, never another code."""
    everything = outcome.out + outcome.err
    assert "Traceback" not in everything, everything[-3000:]
    assert outcome.code in (0, 2), f"exit {outcome.code}: {outcome.err[-2000:]}"
    reasons = [line for line in outcome.err.splitlines() if line.startswith("shipline: error:")]
    assert len(reasons) <= 1, outcome.err
    if outcome.code == 2:
        assert outcome.err.strip(), "refused without a reason"
        for reason in reasons:
            assert len(reason) > len("shipline: error: "), outcome.err


# --- documents: random values, and valid documents mutated ---------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(
        ["*", "alternate", "ecs.DescribeServices", "-1", "1e309", "", "${X}", "${A:-b}", "$$", "${"]
    ),
)
values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)


def paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    found = [prefix]
    if isinstance(node, dict):
        for key, child in node.items():
            found += paths(child, (*prefix, key))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            found += paths(child, (*prefix, index))
    return found


def mutated(valid: Any):
    """Documents made from `valid` by replacing, deleting or adding 1 to 4 values."""

    @st.composite
    def build(draw: st.DrawFn) -> Any:
        document = copy.deepcopy(valid)
        for _ in range(draw(st.integers(min_value=1, max_value=4))):
            where = draw(st.sampled_from(paths(document)))
            if not where:
                document = draw(values)
                continue
            parent = document
            for part in where[:-1]:
                parent = parent[part]
            action = draw(st.sampled_from(["replace", "delete", "add"]))
            if action == "replace":
                parent[where[-1]] = draw(values)
            elif action == "delete":
                del parent[where[-1]]
            elif isinstance(parent, dict):
                parent[draw(st.text(max_size=8))] = draw(values)
        return document

    return build()
