"""What must never be in a log line: a full email address (ASCII or not, `@` or URL-encoded
`%40`), a phone number, a secret value. Masked values (`j***@example.com`, `+***`) pass."""

from __future__ import annotations

import re
from collections.abc import Iterable

# Any address with a visible local part: masked ones read `j***@example.com`.
EMAIL = re.compile(r"[\w.%+\-']+(?:@|%40)[\w\-]+(?:\.[\w\-]+)+")
PHONE = re.compile(r"(?:\+|%2B)\s?\d(?:[\s\-.()/]?\d){6,14}")


def find_leaks(lines: Iterable[str], secrets: Iterable[str]) -> dict[str, list[str]]:
    """Up to ten distinct findings per kind ("email", "phone", "secret"); empty when clean.
    Secrets are reported by their first three characters only."""
    secrets = [s for s in secrets if s]
    found: dict[str, set[str]] = {"email": set(), "phone": set(), "secret": set()}
    for line in lines:
        found["email"].update(match.group(0) for match in EMAIL.finditer(line))
        found["phone"].update(match.group(0) for match in PHONE.finditer(line))
        found["secret"].update(secret[:3] + "…" for secret in secrets if secret in line)
    return {kind: sorted(values)[:10] for kind, values in found.items() if values}
