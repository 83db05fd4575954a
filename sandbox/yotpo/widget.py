"""The Yotpo stand-in playing Yotpo's own rewards page (the widget) and its coupon codes.

On a custom platform a shopper redeems a Generic Fixed Amount / Generic Variable reward in
Yotpo's widget; Yotpo then calls the merchant's **Create Coupons URL** so the code exists in the
shop, and the **Cancel Coupons URL** to retire unused ones, sending the configured secret in the
`X-Api-Secret` header and in the body
(https://support.yotpo.com/docs/implementing-redemptions-via-api). Custom Coupon rewards instead
hand out codes the merchant uploaded (`POST /redemption_codes`, up to 10,000 codes,
https://support.yotpo.com/docs/creating-a-redeemable-custom-coupon-reward), and
`GET /redemption_codes?code=` tells who redeemed a code (https://loyaltyapi.yotpo.com/reference).

Routes added to the stand-in by `install(app, engine)` (an extension for
`sandbox.yotpo.app.create_app`; `main` registers it and serves):

- `POST /_sandbox/widget/config?guid=` `{create_url, cancel_url, secret, delay_points_deduction}`
- `POST /_sandbox/widget/redeem?guid=` `{customer_email | customer_id, redemption_option_id,
  currency?, points_to_redeem?}` — the shopper clicks "redeem": the redemption is made with the
  engine (points checked as the API does), then the code comes from uploaded codes or from the
  merchant's Create Coupons URL; if the merchant refuses, the redemption is cancelled (points
  back) and the widget answers 502 — Yotpo's own behaviour then is not documented.
- `POST /_sandbox/widget/cancel?guid=` `{coupon_codes}` — Yotpo retiring unused codes.
- `POST /api/v2/redemption_codes`, `GET /api/v2/redemption_codes?code=` — the API pair.

The body sent to the Create Coupons URL carries the fields of the support page's example
(`coupon_code`, `discount_amount_cents`, `currency`, `customer_email`) plus the redemption's ids;
the page shows no full payload, so this is the stand-in's reading of it.

`python -m sandbox.yotpo.widget --port …` serves the stand-in with the widget installed.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import requests
from flask import Blueprint, Flask, Response, g, jsonify, request
from pydantic import BaseModel, ConfigDict, ValidationError

from sandbox.yotpo.app import ADMIN_PREFIX, API_PREFIX, register_extension
from sandbox.yotpo.engine import ApiError, YotpoEngine

WIDGET_STATE = "yotpo_widget"
SECRET_HEADER = "X-Api-Secret"
UPLOAD_LIMIT = 10_000
MERCHANT_TIMEOUT_SECONDS = 10.0


class WidgetConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    create_url: str | None = None
    cancel_url: str | None = None
    secret: str | None = None
    # Yotpo's page leaves open when widget redemptions take the points; both can be played.
    delay_points_deduction: bool = True


class _Widget:
    def __init__(self, engine: YotpoEngine) -> None:
        self.engine = engine
        self.lock = threading.Lock()
        self.configs: dict[str, WidgetConfig] = {}
        # guid -> option id -> codes not handed out yet; guid -> code -> who got it
        self.uploaded: dict[str, dict[int, list[str]]] = {}
        self.handed_out: dict[str, dict[str, dict[str, Any]]] = {}
        self.calls: list[dict[str, Any]] = []

    def config(self, guid: str) -> WidgetConfig:
        with self.lock:
            return self.configs.get(guid, WidgetConfig())


def _guid(engine: YotpoEngine) -> str:
    return request.args.get("guid") or engine.default_guid()


def _body() -> dict[str, Any]:
    data = request.get_json(silent=True, force=True)
    if not isinstance(data, dict):
        raise ApiError(400, "request body must be a JSON object")
    return data


def _redemption(engine: YotpoEngine, guid: str, redemption_id: int) -> dict[str, Any]:
    account = engine.state()["accounts"][guid]
    return next(r for r in account["redemptions"] if r["id"] == redemption_id)


def _value_cents(option: Mapping[str, Any], points: int) -> int | None:
    if option.get("discount_type") == "generic_variable":
        rate = option.get("discount_rate_cents")
        return int(Decimal(str(rate)) * points) if rate is not None else None
    amount = option.get("discount_amount_cents")
    return int(amount) if amount is not None else None


def _program_option(engine: YotpoEngine, guid: str, option_id: int) -> dict[str, Any]:
    program = engine.state()["accounts"][guid]["program"]["program"]
    for option in program["redemption_options"]:
        if option["id"] == option_id:
            return option
    raise ApiError(404, f"redemption option {option_id} not found")


def _post_merchant(url: str, secret: str | None, body: dict[str, Any]) -> requests.Response:
    headers = {SECRET_HEADER: secret} if secret else {}
    return requests.post(
        url,
        json={**body, **({"secret": secret} if secret else {})},
        headers=headers,
        timeout=MERCHANT_TIMEOUT_SECONDS,
    )


def install(app: Flask, engine: YotpoEngine) -> None:
    if WIDGET_STATE in app.extensions:
        return  # installed already (registered under two module names)
    widget = _Widget(engine)
    app.extensions[WIDGET_STATE] = widget
    # A blueprint of its own: its endpoint names never collide with the stand-in's.
    bp = Blueprint("yotpo_widget", __name__)

    @bp.post(f"{ADMIN_PREFIX}/widget/config")
    def widget_config() -> Response | tuple[Response, int]:
        try:
            config = WidgetConfig.model_validate(_body())
        except ValidationError as exc:
            raise ApiError(400, str(exc)) from None
        with widget.lock:
            widget.configs[_guid(engine)] = config
        return jsonify(config.model_dump(exclude={"secret"}))

    @bp.post(f"{ADMIN_PREFIX}/widget/redeem")
    def widget_redeem() -> Response | tuple[Response, int]:
        guid = _guid(engine)
        body = _body()
        config = widget.config(guid)
        try:
            option_id = int(body.get("redemption_option_id"))
        except (TypeError, ValueError):
            raise ApiError(400, "redemption_option_id is required") from None
        with widget.lock:
            pool = widget.uploaded.get(guid, {}).get(option_id)
            uploaded_code = pool.pop(0) if pool else None
        if uploaded_code is None and pool is not None:
            raise ApiError(422, "no codes left for this custom coupon reward")
        option = _program_option(engine, guid, option_id)
        customer = {k: body[k] for k in ("customer_email", "customer_id") if body.get(k)}
        currency = body.get("currency") or "EUR"
        made = engine.create_redemption(
            guid,
            {
                **customer,
                "redemption_option_id": option_id,
                "currency": currency,
                "delay_points_deduction": config.delay_points_deduction,
                **{k: body[k] for k in ("points_to_redeem",) if k in body},
            },
        )
        record = _redemption(engine, guid, made["id"])
        who = {"customer_email": record["customer_email"], "customer_id": record["customer_id"]}
        if uploaded_code is not None:
            with widget.lock:
                widget.handed_out.setdefault(guid, {})[uploaded_code] = {
                    **who,
                    "redemption_option_id": option_id,
                }
            return jsonify({"coupon_code": uploaded_code, "redemption_id": made["id"]})
        if not config.create_url:
            raise ApiError(409, "configure the Create Coupons URL first (/_sandbox/widget/config)")
        call = {
            "coupon_code": made["reward_text"],
            "redemption_id": made["id"],
            "redemption_option_id": option_id,
            "discount_type": option["discount_type"],
            "currency": record["currency"],
            **{k: v for k, v in who.items() if v},
        }
        value = _value_cents(option, int(record["amount"]))
        if value is not None:
            call["discount_amount_cents"] = value
        if option.get("discount_percentage") is not None:
            call["discount_percentage"] = option["discount_percentage"]
        try:
            answer = _post_merchant(config.create_url, config.secret, call)
            status, payload = answer.status_code, _json(answer)
        except requests.RequestException as exc:
            status, payload = None, {"error": type(exc).__name__}
        with widget.lock:
            widget.calls.append({"url": "create", "status": status, "body": call})
        if status != 200 or not payload.get("coupon_code"):
            # The merchant did not make the code: no points for a code nobody can use.
            engine.complete_cancellation(guid, made["id"], {"reward_text": made["reward_text"]})
            return jsonify({"error": "merchant refused", "status": status, "answer": payload}), 502
        with widget.lock:
            widget.handed_out.setdefault(guid, {})[str(payload["coupon_code"])] = {
                **who,
                "redemption_option_id": option_id,
            }
        return jsonify(
            {
                "coupon_code": payload["coupon_code"],
                "redemption_id": made["id"],
                "merchant": payload,
            }
        )

    @bp.post(f"{ADMIN_PREFIX}/widget/cancel")
    def widget_cancel() -> Response | tuple[Response, int]:
        guid = _guid(engine)
        config = widget.config(guid)
        if not config.cancel_url:
            raise ApiError(409, "configure the Cancel Coupons URL first")
        body = _body()
        answer = _post_merchant(config.cancel_url, config.secret, body)
        with widget.lock:
            widget.calls.append({"url": "cancel", "status": answer.status_code, "body": body})
        return jsonify({"status": answer.status_code, "answer": _json(answer)})

    @bp.get(f"{ADMIN_PREFIX}/widget/calls")
    def widget_calls() -> Response:
        with widget.lock:
            return jsonify({"calls": list(widget.calls)})

    # --- the API pair (authenticated by the stand-in's before_request) ----------------------

    @bp.post(f"{API_PREFIX}/redemption_codes")
    def upload_codes() -> Response:
        body = _body()
        try:
            option_id = int(body.get("redemption_option_id"))
        except (TypeError, ValueError):
            raise ApiError(422, "redemption_option_id is required") from None
        raw = body.get("codes")
        codes = raw.split(",") if isinstance(raw, str) else raw
        if not isinstance(codes, list) or not codes:
            raise ApiError(422, "codes is required (comma-separated)")
        codes = [str(c).strip() for c in codes if str(c).strip()]
        if len(codes) > UPLOAD_LIMIT:
            raise ApiError(422, f"at most {UPLOAD_LIMIT} codes per request")
        _program_option(engine, g.guid, option_id)
        with widget.lock:
            pool = widget.uploaded.setdefault(g.guid, {}).setdefault(option_id, [])
            pool.extend(codes)
            left = len(pool)
        return jsonify({"uploaded": len(codes), "available": left})

    @bp.get(f"{API_PREFIX}/redemption_codes")
    def code_owner() -> Response:
        code = (request.args.get("code") or "").strip()
        if not code:
            raise ApiError(422, "code is required")
        with widget.lock:
            handed = widget.handed_out.get(g.guid, {}).get(code)
        if handed is None:
            account = engine.state()["accounts"][g.guid]
            match = next((r for r in account["redemptions"] if r["reward_text"] == code), None)
            if match is not None:
                handed = {
                    "customer_email": match["customer_email"],
                    "customer_id": match["customer_id"],
                    "redemption_option_id": match["redemption_option_id"],
                }
        if handed is None:
            raise ApiError(404, "code not found")
        return jsonify({"code": code, **handed})

    app.register_blueprint(bp)


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        payload = response.json()
    except ValueError:
        return {}
    return payload if isinstance(payload, dict) else {}


def widget_state(app: Flask) -> _Widget:
    return app.extensions[WIDGET_STATE]


def main(argv: list[str] | None = None) -> int:
    """The stand-in with the widget installed (same arguments as `python -m sandbox.yotpo`)."""
    from sandbox.yotpo.__main__ import main as serve

    register_extension(install)
    return serve(argv)


if __name__ == "__main__":
    raise SystemExit(main())
