"""Install of the job app: the customer fields the write-back fills, and the VIP groups.

`python -m job.install post-deploy` (the connect.yaml script). Idempotent: a second run
changes nothing. The fields go onto the merchant's customer type when
`CUSTOMER_CUSTOM_TYPE_KEY` names one (a customer has one custom type: we extend theirs rather
than replace it), else onto the connector's own type `yotpo-loyalty-customer`. Customer groups
named in `VIP_TIER_GROUPS` that do not exist yet are created (named after their tier); existing
ones are left exactly as the merchant made them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from job.settings import JobSettings
from shared.commercetools import CommercetoolsClient
from shared.domain.loyalty_fields import CUSTOMER_FIELD_DEFINITIONS
from shared.install import Result, ensure_by_key, ensure_type_fields

CUSTOMER_TYPE_NAME = "Loyalty (Yotpo) customer fields"


def _no_changes(existing: dict[str, Any]) -> list[dict[str, Any]]:
    return []


def post_deploy(
    ct: CommercetoolsClient, env: Mapping[str, str], settings: JobSettings
) -> dict[str, Result]:
    results: dict[str, Result] = {
        "type": ensure_type_fields(
            ct,
            key=settings.customer_type_key,
            name=CUSTOMER_TYPE_NAME,
            resource_type_ids=["customer"],
            definitions=CUSTOMER_FIELD_DEFINITIONS,
        )
    }
    for tier, group_key in sorted(settings.tier_groups().items()):
        draft = {"key": group_key, "groupName": f"Loyalty tier: {tier}"}
        results[f"group:{group_key}"] = ensure_by_key(ct, "customer-groups", draft, _no_changes)
    return results


if __name__ == "__main__":
    from shared.install import run_script

    raise SystemExit(run_script("job", JobSettings, {"post-deploy": post_deploy}))
