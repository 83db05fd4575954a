"""Settings and fixed values of the service app tested at the HTTP boundary (`responses`):
shared by the checkout and member-identity tests."""

from __future__ import annotations

YOTPO = "https://yotpo.test/api/v2"
CT = "https://ct.test"
SECRET = "extension-secret-value"
AUTH = {"Authorization": f"Bearer {SECRET}"}

ENV = {
    "CTP_PROJECT_KEY": "proj",
    "CTP_CLIENT_ID": "id",
    "CTP_CLIENT_SECRET": "secret",
    "CTP_SCOPE": "manage_project:proj",
    "CTP_REGION": "europe-west1.gcp",
    "CTP_API_URL": CT,
    "CTP_AUTH_URL": CT,
    "YOTPO_GUID": "guid",
    "YOTPO_API_KEY": "key",
    "YOTPO_API_URL": YOTPO,
    "YOTPO_RATE_LIMIT_PER_SECOND": "1000",
    "EXTENSION_SECRET": SECRET,
    "REWARD_BASE_CURRENCY": "EUR",
    "LOYALTY_CALL_BUDGET_MS": "800",
    "OIDC_VERIFICATION": "off",
}

OPTION = {"id": 1, "amount": 500, "discount_type": "fixed_amount", "discount_amount_cents": 500}
