"""Finding the commercetools customer an email names.

Stored emails keep the case the customer typed, so the address is looked for as given and
lower-cased. Without stores an email is unique in a project; with stores several customers
may share one (https://docs.commercetools.com/api/customers-overview#customer-uniqueness),
and then the email names nobody: binding a code or a balance to the wrong person is worse
than binding it to none.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.commercetools import CommercetoolsClient, literal_list


def customer_by_email(ct: CommercetoolsClient, email: str) -> Mapping[str, Any] | None:
    """The one customer with this email, or None (no email, no customer, or several)."""
    if not email:
        return None
    spellings = literal_list(dict.fromkeys((email, email.lower())))
    found = ct.query("customers", where=f"email in {spellings}", limit=2)
    results = found.get("results") or []
    return results[0] if len(results) == 1 else None
