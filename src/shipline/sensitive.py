"""Which values are secrets, and how they are hidden: the one rule every command applies.

A value is a secret when the app's variable inventory (`schemas/env-inventory.json`) says its
variable holds one; for any other name, when the name says so (and it only points at a secret
when it is an ARN, an id, a name or a path); and, whatever its name, when it has the shape of
a credential. The password inside a URL is a secret of its own: it is hidden inside the URL and
masked on its own, so it stays hidden wherever else it shows up. The inventory's known
non-secrets (`SECRETS_PROVIDER=aws_sm`, `AUTH_KEY_STORAGE_BACKEND=secret-manager`) are never
hidden for their names. Pure: nothing here prints or reads AWS.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from shipline.env.inventory import Inventory

# What a hidden value is replaced with (GitHub's runner shows masked values the same way).
MASK = "***"

# A name that says its variable holds a secret.
_SECRET_NAME = re.compile(
    r"(SECRET|TOKEN|PASSWORD|PASSWD|PASSPHRASE|CREDENTIAL|PRIVATE_?KEY|API_?KEY|ACCESS_?KEY|"
    r"SIGNING|_DSN$|^DSN$|AUTH_KEY|SESSION_KEY|ENCRYPTION_KEY|COOKIE|"
    r"(?:^|_)PASS(?:_|$)|_PWD(?:_|$))",
    re.IGNORECASE,
)
# Names matching _SECRET_NAME that only point at a secret (its ARN, id, name or file).
_REFERENCE_NAME = re.compile(r"(_ARNS?|_IDS?|_NAMES?|_FILE|_PATH)\Z", re.IGNORECASE)
# Values that are secrets whatever their name.
_SECRET_VALUE = re.compile(
    r"(-----BEGIN [A-Z ]*PRIVATE KEY-----"
    r"|\b(?:ghp|gho|ghu|ghs|ghr|github_pat)_[A-Za-z0-9_]{20,}"
    r"|\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{10,}"
    r"|\bsk-[A-Za-z0-9_-]{20,}"
    r"|\bxox[abprs]-[A-Za-z0-9-]{10,}"
    r"|\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"
    r"|\beyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,})"
)
# scheme://user:password@host inside any text: the password part (up to the last @ before
# the host, as urlsplit reads it).
_URL_PASSWORD = re.compile(
    r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^\s:/@]*:)(?P<secret>[^\s/]+)(?=@[^\s@/]+)"
)
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S+")
# NAME=value, NAME: value and "name": "value" pairs in text.
_PAIR = re.compile(
    r"(?P<head>(?P<q>[\"']?)(?P<name>[A-Za-z_][A-Za-z0-9_.-]*)(?P=q)\s*(?:=|:)\s*(?P<vq>[\"']?))"
    r"(?P<value>[^\s\"',}]+)"
)
# Shorter texts are not masked on their own: the runner would hide them everywhere.
_SHORTEST_MASK = 3


def _inventory(inventory: Inventory | None) -> Inventory:
    if inventory is not None:
        return inventory
    from shipline.env.inventory import load_inventory

    return load_inventory()


def url_passwords(value: str | None) -> list[str]:
    """Every password inside a URL's user-info (`scheme://user:PASSWORD@host`) in `value`."""
    found = []
    for match in _URL.finditer(value or ""):
        try:
            password = urlsplit(match[0]).password
        except ValueError:
            password = None
        if password:
            found.append(password)
    found += [match["secret"] for match in _URL_PASSWORD.finditer(value or "")]
    return [password for password in dict.fromkeys(found) if password != MASK]


def url_password(value: str) -> str | None:
    """The password of the first URL in `value`, if any."""
    found = url_passwords(value)
    return found[0] if found else None


def has_credential_shape(value: str | None) -> bool:
    """A token, key or URL password, recognised by its shape alone."""
    return bool(value) and bool(_SECRET_VALUE.search(value or "") or url_passwords(value))


def is_secret(name: str | None, value: str | None, inventory: Inventory | None = None) -> bool:
    """Whether the value of variable `name` must never be shown (see the module docstring)."""
    if not value:
        return False
    if has_credential_shape(value):
        return True
    if not name:
        return False
    known = _inventory(inventory).get(name)
    if known is not None:
        return known.sensitive or known.from_secret
    if _SECRET_NAME.search(name) and not _REFERENCE_NAME.search(name):
        return not value.startswith("arn:")
    return False


def secret_parts(
    name: str | None, value: str | None, inventory: Inventory | None = None
) -> list[str]:
    """The texts to mask for one variable, longest first: each line of a secret value, and
    every URL password in it (also when the rest of the value is no secret)."""
    if not value:
        return []
    found: list[str] = []
    if is_secret(name, value, inventory):
        found += [line.strip() for line in value.splitlines() if line.strip()]
    found += url_passwords(value)
    kept = {part for part in found if len(part) >= _SHORTEST_MASK}
    return sorted(kept, key=len, reverse=True)


def secret_values(values: Mapping[str, str], inventory: Inventory | None = None) -> list[str]:
    """Every text in `values` (name -> value) that must never be printed, longest first."""
    found = {
        part for name, value in values.items() for part in secret_parts(name, value, inventory)
    }
    return sorted(found, key=len, reverse=True)


def display_value(name: str, value: str, inventory: Inventory | None = None) -> str:
    """The value as it may be shown: masked when secret, URL passwords hidden otherwise."""
    if is_secret(name, value, inventory):
        return MASK
    return mask_text(value)


def mask_text(text: str, known: Iterable[str] = ()) -> str:
    """`text` with every secret hidden: the `known` secret texts, passwords in URLs,
    credentials by their shape, and the values of NAME=value / "name": "value" pairs whose
    name (or value) makes them secrets."""
    for secret in sorted(set(known), key=len, reverse=True):
        if len(secret) >= _SHORTEST_MASK:
            text = text.replace(secret, MASK)

    def pair(match: re.Match[str]) -> str:
        if MASK not in match["value"] and is_secret(match["name"], match["value"]):
            return match["head"] + MASK
        return match[0]

    text = _URL_PASSWORD.sub(lambda m: m["head"] + MASK, text)
    text = _SECRET_VALUE.sub(MASK, text)
    return _PAIR.sub(pair, text)


def redact_task_definition(
    content: Mapping[str, Any], inventory: Inventory | None = None
) -> tuple[dict[str, Any], list[str]]:
    """A copy of a task definition with every secret-looking plain value replaced by MASK,
    and where they were (`container: NAME` for an environment variable, `container: field`
    for a credential, by its shape, in any other field, such as a command)."""
    redacted = copy.deepcopy(dict(content))
    where: list[str] = []
    for container in redacted.get("containerDefinitions") or []:
        if not isinstance(container, dict):
            continue
        label = str(container.get("name") or "?")
        for item in container.get("environment") or []:
            if not isinstance(item, dict) or not isinstance(item.get("value"), str):
                continue
            name, value = item.get("name"), item["value"]
            shapes_hidden = _hide_shapes(value)
            if is_secret(name, shapes_hidden, inventory):
                item["value"] = MASK
            elif shapes_hidden != value:
                item["value"] = shapes_hidden  # `postgres://app:***@db`: the rest is no secret
            else:
                continue
            where.append(f"{label}: {name}")
        for field, value in container.items():
            if field in {"environment", "name"}:
                continue
            masked = _mask_strings(value)
            if masked != value:
                container[field] = masked
                where.append(f"{label}: {field}")
    return redacted, where


def _hide_shapes(text: str) -> str:
    """`text` with URL passwords and credentials by their shape replaced by MASK."""
    return _SECRET_VALUE.sub(MASK, _URL_PASSWORD.sub(lambda m: m["head"] + MASK, text))


def _mask_strings(value: Any) -> Any:
    """Credentials by their shape only: a NAME=value guess would also hit the `secret:name`
    inside a Secrets Manager ARN, which a task definition must keep."""
    if isinstance(value, str):
        return _hide_shapes(value)
    if isinstance(value, list):
        return [_mask_strings(item) for item in value]
    if isinstance(value, dict):
        return {key: _mask_strings(item) for key, item in value.items()}
    return value
