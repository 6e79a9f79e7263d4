"""requirements.lock read as pip reads it: `name==version [; marker]` entries with hashes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from packaging.markers import Marker
from packaging.utils import canonicalize_name

LOCK = Path(__file__).resolve().parents[2] / "requirements.lock"
_ENTRY = re.compile(
    r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[^\s;\\]+)(?:\s*;\s*(?P<marker>[^\\]+?))?\s*\\?$"
)
_HASH = re.compile(r"^\s+--hash=sha256:[0-9a-f]{64}\s*\\?$")


@dataclass
class Pin:
    name: str  # canonical
    version: str
    marker: Marker | None
    hashes: int = 0

    def applies(self) -> bool:
        return self.marker is None or self.marker.evaluate()


def pins(path: Path = LOCK) -> list[Pin]:
    found: list[Pin] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        entry = _ENTRY.match(line)
        if entry:
            marker = Marker(entry["marker"]) if entry["marker"] else None
            found.append(Pin(canonicalize_name(entry["name"]), entry["version"], marker))
        elif _HASH.match(line) and found:
            found[-1].hashes += 1
        else:
            raise ValueError(f"{path.name}: not a pinned requirement or a hash: {line!r}")
    return found


def applicable_pins() -> dict[str, str]:
    """Canonical name -> version, for the pins whose marker fits this interpreter."""
    return {pin.name: pin.version for pin in pins() if pin.applies()}
