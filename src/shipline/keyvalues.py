"""`KEY=VALUE` arguments (`--image api=...`, `images resolve api=...`): one rule for all."""

from __future__ import annotations

import re
from collections.abc import Iterable

from shipline.errors import UsageError

_KEY = re.compile(r"[A-Za-z0-9_-]+")  # fullmatch: `$` would also accept a final "\n"
_BLANKS = " \t"


def parse_key_values(pairs: Iterable[str], *, malformed: str, repeated: str) -> dict[str, str]:
    """`KEY=VALUE` pairs as a mapping, in the order given; UsageError for a malformed or
    repeated one, with the caller's message (`{pair}` and `{key}` filled in).

    The first `=` separates; spaces and tabs around the key and the value are dropped. The key
    is letters, digits, '_' and '-'; the value is not empty and neither starts nor ends with a
    line break. What the value must be (an image reference, an ARN) its own grammar decides.
    """
    found: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key, value = key.strip(_BLANKS), value.strip(_BLANKS)
        if not sep or not _KEY.fullmatch(key) or not value or value != value.strip():
            raise UsageError(malformed.format(pair=pair))
        if key in found:
            raise UsageError(repeated.format(key=key))
        found[key] = value
    return found
