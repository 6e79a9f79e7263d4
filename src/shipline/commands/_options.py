"""Argument types shared by the commands (argparse `type=`)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TypeVar

Number = TypeVar("Number", int, float)


def at_least(
    parse: Callable[[str], Number], minimum: Number, noun: str, unit: str = ""
) -> Callable[[str], Number]:
    """An argparse type: `parse(text)`, refused when it is not a finite number of `minimum` or
    more (`noun` says what was expected, `unit` follows the minimum)."""

    def convert(text: str) -> Number:
        try:
            value = parse(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not {noun}") from None
        if not minimum <= value < float("inf"):
            raise argparse.ArgumentTypeError(f"'{text}' must be {minimum} or more{unit}")
        return value

    return convert
