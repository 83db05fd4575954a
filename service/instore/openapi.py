"""The OpenAPI 3 description of the loyalty API (served at `GET /loyalty/openapi.json`).

A test compares its paths with the app's real routes, both ways. The redemption codes and their
statuses come from the code itself (`RedemptionError`, `problems.REDEMPTION_STATUS`), so the
description cannot drift from what the till receives.
"""

from __future__ import annotations

from typing import Any

from service.instore.problems import REDEMPTION_STATUS
from shared.domain.checkout.redemption import RedemptionError

PREFIX = "/loyalty"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _problem(description: str) -> dict[str, Any]:
    return _json(_ref("Problem"), description)


_AUTH_FAILURES = {
    "401": _problem("missing or unknown API key"),
    "404": _problem("not found (or the API is not configured)"),
    "503": _problem(
        "commercetools or the store's loyalty provider unavailable; retry with the same request_id"
    ),
}
_THROTTLED = {
    "429": {
        **_problem(
            "too many calls for this key (too_many_lookups, too_many_redemptions) or failed "
            "authentications from this address (too_many_failures)"
        ),
        "headers": {"Retry-After": {"schema": {"type": "integer"}}},
    }
}
# The redemption codes a till can receive, by endpoint (docs/adr/0090).
REDEEM_CODES = (
    RedemptionError.UNKNOWN_OPTION,
    RedemptionError.INVALID_POINTS,
    RedemptionError.NOT_ELIGIBLE,
    RedemptionError.NOT_ENOUGH_POINTS,
    RedemptionError.CURRENCY_NOT_ENABLED,
    RedemptionError.CURRENCY_NOT_SUPPORTED,
    RedemptionError.REDEMPTION_REFUSED,
)
REVERSAL_CODES = (RedemptionError.UNKNOWN_REDEMPTION, RedemptionError.NOT_REVERSIBLE)


def _code_table(codes: tuple[RedemptionError, ...]) -> str:
    return ", ".join(f"{code.value} ({REDEMPTION_STATUS[code]})" for code in codes)


def _coded(
    failures: dict[str, Any], codes: tuple[RedemptionError, ...], **others: str
) -> dict[str, Any]:
    """The failure responses with the redemption codes (and other codes) each status carries."""
    described = {}
    for status, response in failures.items():
        names = [c.value for c in codes if str(REDEMPTION_STATUS[c]) == status]
        if status in others:
            names.insert(0, others[status])
        if names:
            response = {**response, "description": f"{response['description']}: {', '.join(names)}"}
        described[status] = response
    return described


_WRITE_FAILURES = {
    "400": _problem("malformed request (the reason says which field)"),
    "409": _problem("request_id reused for another request, or a conflicting resource"),
    "422": _problem("refused by the loyalty rules or the order's state"),
}


def _body(name: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": _ref(name)}}}


def _path_param(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string"},
    }


_MONEY = {"type": "integer", "description": "minor units of the currency (cents, yen, fils)"}
_REQUEST_ID = {
    "type": "string",
    "pattern": "^[A-Za-z0-9_-]{1,100}$",
    "description": "the POS's id of this operation: a retry with the same id changes nothing",
}

SCHEMAS: dict[str, Any] = {
    "Problem": {
        "type": "object",
        "required": ["error", "message"],
        "properties": {
            "error": {
                "type": "string",
                "description": (
                    "a stable code. Redemption refusals use the codes the online checkout "
                    "answers in extensionExtraInfo.loyaltyError (see RedemptionError), with "
                    "these statuses: " + _code_table(REDEEM_CODES + REVERSAL_CODES)
                ),
            },
            "message": {"type": "string", "description": "a fixed text for the till's screen"},
        },
        "additionalProperties": True,
    },
    "RedemptionError": {
        "type": "string",
        "description": (
            "every redemption code of the connector, online and in stores (docs/adr/"
            "0090-one-set-of-redemption-rules.md); the till receives "
            + _code_table(REDEEM_CODES + REVERSAL_CODES)
        ),
        "enum": [code.value for code in RedemptionError],
    },
    "Customer": {
        "type": "object",
        "properties": {
            "customer_id": {"type": "string"},
            "name": {"type": "string", "nullable": True},
            "email": {"type": "string", "description": "masked, e.g. j***@example.com"},
            "points_balance": {"type": "integer"},
            "vip_tier": {
                "type": "string",
                "nullable": True,
                "description": "null when the store's program has no tiers (Voyado)",
            },
            "vip_tier_progress": {
                "type": "object",
                "nullable": True,
                "properties": {
                    "next_tier": {"type": "string", "nullable": True},
                    "points_needed": {"type": "integer", "nullable": True},
                    "amount_minor_needed": {"type": "integer", "nullable": True},
                    "purchases_needed": {"type": "integer", "nullable": True},
                },
            },
            "referral_code": {
                "type": "string",
                "nullable": True,
                "description": "null when the store's program has no referrals (Voyado)",
            },
        },
    },
    "Reward": {
        "type": "object",
        "properties": {
            "id": {
                "type": "string",
                "description": "a Yotpo option id (digits) or a Voyado reward voucher id (GUID)",
            },
            "name": {"type": "string"},
            "description": {"type": "string"},
            "cost_text": {"type": "string", "nullable": True},
            "points": {
                "type": "integer",
                "description": (
                    "points cost (per step if variable); 0 for a Voyado voucher, whose points "
                    "left the balance when it was made"
                ),
            },
            "kind": {"type": "string", "enum": ["fixed", "percentage", "variable"]},
            "amount_minor": {**_MONEY, "nullable": True},
            "percentage": {"type": "number", "nullable": True},
            "minimum_minor": {**_MONEY, "nullable": True},
            "currency": {"type": "string", "nullable": True},
            "offline": {"type": "boolean", "description": "usable in stores"},
            "expires_at": {
                "type": "string",
                "format": "date-time",
                "nullable": True,
                "description": "when the reward expires, where the program says (Voyado)",
            },
        },
    },
    "Rewards": {
        "type": "object",
        "properties": {
            "customer_id": {"type": "string"},
            "points_balance": {"type": "integer"},
            "rewards": {"type": "array", "items": _ref("Reward")},
        },
    },
    "RedemptionRequest": {
        "type": "object",
        "additionalProperties": False,
        "required": ["request_id", "customer_id", "option_id"],
        "properties": {
            "request_id": _REQUEST_ID,
            "customer_id": {"type": "string"},
            "option_id": {
                "type": "string",
                "description": (
                    "a reward id from GET .../rewards: digits (Yotpo) or a GUID (a Voyado "
                    "voucher); the other kind is unknown_option (404)"
                ),
            },
            "points": {
                "type": "integer",
                "minimum": 1,
                "description": "points to spend on a variable reward",
            },
            "currency": {"type": "string", "description": "ISO 4217; defaults to the program's"},
        },
    },
    "Redemption": {
        "type": "object",
        "properties": {
            "redemption_id": {
                "type": "string",
                "description": (
                    "an opaque, random id (not the provider's); only the store that "
                    "redeemed can reverse it, once"
                ),
            },
            "code": {
                "type": "string",
                "description": "the code to apply at the till (a Voyado voucher's number)",
            },
            "amount_minor": {**_MONEY, "nullable": True},
            "currency": {"type": "string", "nullable": True},
            "points": {"type": "integer"},
            "customer_id": {"type": "string"},
            "option_id": {"type": "string"},
        },
    },
    "ReversalRequest": {
        "type": "object",
        "additionalProperties": False,
        "required": ["request_id"],
        "properties": {"request_id": _REQUEST_ID},
    },
    "Reversal": {
        "type": "object",
        "properties": {
            "redemption_id": {"type": "string"},
            "status": {"type": "string", "enum": ["reversed"]},
            "points": {"type": "integer", "nullable": True},
        },
    },
    "OrderLine": {
        "type": "object",
        "additionalProperties": False,
        "required": ["name", "quantity", "unit_price_minor"],
        "properties": {
            "sku": {"type": "string"},
            "name": {"type": "string"},
            "quantity": {"type": "integer", "minimum": 1},
            "unit_price_minor": {**_MONEY, "minimum": 0},
        },
    },
    "OrderRequest": {
        "type": "object",
        "additionalProperties": False,
        "required": ["request_id", "order_number", "currency", "lines"],
        "description": "exactly one of customer_id and email",
        "properties": {
            "request_id": _REQUEST_ID,
            "order_number": {
                "type": "string",
                "pattern": "^[A-Za-z0-9][A-Za-z0-9_.:#-]{0,99}$",
                "description": "the receipt id; importing it again answers the existing order",
            },
            "customer_id": {"type": "string"},
            "email": {"type": "string", "format": "email"},
            "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
            "lines": {"type": "array", "minItems": 1, "items": _ref("OrderLine")},
            "total_minor": {
                **_MONEY,
                "minimum": 1,
                "description": "what was paid (after in-store discounts); default: the lines",
            },
            "tax_minor": {**_MONEY, "minimum": 0, "description": "tax included in the total"},
            "reward_code": {"type": "string", "description": "a code from POST /redemptions"},
        },
    },
    "Order": {
        "type": "object",
        "properties": {
            "order_id": {"type": "string"},
            "order_number": {"type": "string"},
            "status": {"type": "string", "enum": ["imported"]},
        },
    },
    "OrderSummary": {
        "type": "object",
        "properties": {
            "order_id": {"type": "string"},
            "order_number": {"type": "string"},
            "store": {"type": "string", "nullable": True},
            "currency": {"type": "string"},
            "fraction_digits": {"type": "integer"},
            "total_minor": _MONEY,
            "refunded_minor": _MONEY,
            "refundable_minor": _MONEY,
        },
    },
    "RefundRequest": {
        "type": "object",
        "additionalProperties": False,
        "required": ["request_id", "order_number", "amount_minor"],
        "properties": {
            "request_id": _REQUEST_ID,
            "order_number": {"type": "string", "description": "in-store or online order"},
            "amount_minor": {**_MONEY, "minimum": 1},
        },
    },
    "Refund": {
        "type": "object",
        "properties": {
            "status": {"type": "string", "enum": ["recorded"]},
            "transaction_id": {"type": "string"},
            "order_id": {"type": "string"},
            "order_number": {"type": "string"},
            "amount_minor": _MONEY,
            "currency": {"type": "string"},
        },
    },
}


def _paths() -> dict[str, Any]:
    customer_id = _path_param("customer_id", "commercetools customer id")
    order_number = _path_param("order_number", "the order's number (receipt id)")
    return {
        f"{PREFIX}/customers": {
            "get": {
                "summary": "Find a customer by email or phone; balance and VIP tier",
                "parameters": [
                    {"name": "email", "in": "query", "schema": {"type": "string"}},
                    {
                        "name": "phone",
                        "in": "query",
                        "description": "E.164, e.g. +4917612345678",
                        "schema": {"type": "string"},
                    },
                ],
                "responses": {
                    "200": _json(_ref("Customer"), "the customer"),
                    "400": _problem("neither or both of email and phone, or a malformed one"),
                    "409": _problem(
                        "several customers match (candidates listed, emails masked), or "
                        "several loyalty members hold the customer's details (ambiguous_member)"
                    ),
                    **_THROTTLED,
                    **_AUTH_FAILURES,
                },
            }
        },
        f"{PREFIX}/customers/{{customer_id}}": {
            "get": {
                "summary": "A customer's balance and VIP tier by id",
                "parameters": [customer_id],
                "responses": {
                    "200": _json(_ref("Customer"), "the customer"),
                    "409": _problem(
                        "several loyalty members hold the customer's details (ambiguous_member)"
                    ),
                    **_THROTTLED,
                    **_AUTH_FAILURES,
                },
            }
        },
        f"{PREFIX}/customers/{{customer_id}}/rewards": {
            "get": {
                "summary": "Rewards the customer can redeem now",
                "parameters": [
                    customer_id,
                    {
                        "name": "offline",
                        "in": "query",
                        "description": "true: only rewards usable in stores",
                        "schema": {"type": "boolean"},
                    },
                ],
                "responses": {
                    "200": _json(_ref("Rewards"), "the rewards"),
                    **_THROTTLED,
                    **_AUTH_FAILURES,
                },
            }
        },
        f"{PREFIX}/redemptions": {
            "post": {
                "summary": (
                    "Redeem a reward for a code (points are deducted at once; a Voyado "
                    "voucher is redeemed now)"
                ),
                "requestBody": _body("RedemptionRequest"),
                "responses": {
                    "201": _json(_ref("Redemption"), "the code"),
                    **_coded(_WRITE_FAILURES, REDEEM_CODES, **{"400": "invalid_request"}),
                    **_coded(_AUTH_FAILURES, REDEEM_CODES, **{"404": "unknown_customer"}),
                    **_THROTTLED,
                },
            }
        },
        f"{PREFIX}/redemptions/{{redemption_id}}/reversal": {
            "post": {
                "summary": (
                    "Reverse an unused redemption, once (the points come back; a Voyado "
                    "voucher is reactivated). Another reversal of it is not_reversible (409)"
                ),
                "parameters": [_path_param("redemption_id", "from POST /redemptions")],
                "requestBody": _body("ReversalRequest"),
                "responses": {
                    "200": _json(_ref("Reversal"), "reversed"),
                    **_coded(_WRITE_FAILURES, REVERSAL_CODES),
                    **_coded(_AUTH_FAILURES, REVERSAL_CODES),
                    **_THROTTLED,
                },
            }
        },
        f"{PREFIX}/orders": {
            "post": {
                "summary": (
                    "Record an in-store sale (imported into commercetools; earns points). "
                    "total_minor is at most the lines' sum; a sale above POS_MAX_ORDER_MINOR is "
                    "422 order_over_limit"
                ),
                "requestBody": _body("OrderRequest"),
                "responses": {
                    "201": _json(_ref("Order"), "imported"),
                    "200": _json(_ref("Order"), "this sale was imported before"),
                    **_WRITE_FAILURES,
                    **_AUTH_FAILURES,
                },
            }
        },
        f"{PREFIX}/orders/{{order_number}}": {
            "get": {
                "summary": "An order's total and what is left to refund",
                "parameters": [order_number],
                "responses": {
                    "200": _json(_ref("OrderSummary"), "the order"),
                    **_AUTH_FAILURES,
                },
            }
        },
        f"{PREFIX}/refunds": {
            "post": {
                "summary": "Record an in-store refund of an in-store or online order",
                "requestBody": _body("RefundRequest"),
                "responses": {
                    "202": _json(_ref("Refund"), "recorded; points are reversed shortly"),
                    **_WRITE_FAILURES,
                    **_AUTH_FAILURES,
                },
            }
        },
        f"{PREFIX}/openapi.json": {
            "get": {
                "summary": "This description",
                "security": [],
                "responses": {"200": {"description": "OpenAPI 3 JSON"}},
            }
        },
        f"{PREFIX}/associate": {
            "get": {
                "summary": "The store associate page (HTML; the key is entered in the page)",
                "security": [],
                "responses": {"200": {"description": "HTML page", "content": {"text/html": {}}}},
            }
        },
    }


def openapi_document() -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Loyalty API for stores (POS and headless)",
            "version": "1.0.0",
            "description": (
                "Look up loyalty members, redeem rewards for codes, and record in-store "
                "sales and refunds. Amounts are integers in the currency's minor units. "
                "Sales and refunds are recorded in commercetools; points follow shortly. "
                "A store is served by its loyalty provider (Yotpo, or Voyado Engage): the "
                "same calls, Voyado's rewards being the member's reward vouchers (redeemed "
                "at the till, reactivated by a reversal; no tiers, no points-spend options)."
            ),
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": SCHEMAS,
        },
        "paths": _paths(),
    }
