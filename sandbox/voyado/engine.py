"""The Voyado Engage stand-in's engine: tenants, admission (faults, rate limit), the receipt
batch worker, webhooks, and the state the admin endpoints show.

Thread-safe: one lock around all tenant state; the Flask app only translates HTTP. Time comes
from an injectable clock (plus an offset `/_sandbox/clock` can advance) so the 24-hour
Idempotency-Key window, voucher expiry, pending points and batch delays can be tested.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from sandbox.voyado import contacts as contact_ops
from sandbox.voyado import receipts as receipt_ops
from sandbox.voyado import rewards
from sandbox.voyado.config import (
    FaultConfig,
    LatencyConfig,
    SandboxConfig,
    TenantConfig,
    default_config,
)
from sandbox.voyado.rewards import Event
from sandbox.voyado.state import ApiError, ReceiptRecord, StoredAnswer, TenantState
from sandbox.voyado.webhooks import SvixDispatcher
from shared.logs import log_event

logger = logging.getLogger("sandbox.voyado")
Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Admission:
    """What happens to one authenticated request before (and after) the endpoint runs."""

    reject: ApiError | None = None
    hang_seconds: float = 0.0
    drop_status: int | None = None  # commit, then answer this instead
    drop_hang: float = 0.0


@dataclass
class _Fault:
    config: FaultConfig
    left: dict[str, int] = field(default_factory=dict)

    def take(self, counter: str) -> bool:
        if self.left.get(counter, 0) > 0:
            self.left[counter] -= 1
            return True
        return False


def _validated(model: Any, body: Any) -> Any:
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise ApiError(400, "InvalidConfig", str(exc.errors()[:3])) from exc


class VoyadoEngine:
    def __init__(
        self,
        config: SandboxConfig | None = None,
        *,
        clock: Clock = _utc_now,
        dispatcher: SvixDispatcher | None = None,
        start_worker: bool = True,
    ) -> None:
        self._config = config or default_config()
        self._clock = clock
        self._offset = timedelta(0)
        self._lock = threading.RLock()
        self._closing = threading.Event()
        self._wake = threading.Event()
        self._tenants: dict[str, TenantState] = {}
        self._keys: dict[str, str] = {}
        self._faults: list[_Fault] = []
        self._latency = LatencyConfig()
        self._windows: dict[str, tuple[int, int]] = {}
        self._events: list[dict[str, Any]] = []
        self._requests: list[dict[str, Any]] = []
        self.dispatcher = dispatcher or SvixDispatcher(
            retry_delays=self._config.webhook_retry_delays,
            timeout=self._config.webhook_timeout_seconds,
            clock=lambda: self.now().timestamp(),
        )
        for tenant in self._config.tenants:
            self._add_tenant(tenant)
        self._worker: threading.Thread | None = None
        if start_worker:
            self._worker = threading.Thread(
                target=self._run_batches, name="voyado-sandbox-batches", daemon=True
            )
            self._worker.start()

    # --- time, tenants, lifecycle ------------------------------------------------------------

    def now(self) -> datetime:
        return self._clock() + self._offset

    def advance(self, seconds: float) -> datetime:
        with self._lock:
            self._offset += timedelta(seconds=seconds)
        self._wake.set()
        return self.now()

    def _add_tenant(self, tenant: TenantConfig) -> None:
        for key in tenant.api_keys:
            owner = self._keys.get(key)
            if owner is not None and owner != tenant.name:
                raise ApiError(400, "InvalidConfig", "an API key belongs to one tenant")
        old = self._tenants.get(tenant.name)
        if old is not None:
            for key in old.config.api_keys:
                self._keys.pop(key, None)
            old.config = tenant  # keep the data, change the settings
        else:
            self._tenants[tenant.name] = TenantState(tenant)
        for key in tenant.api_keys:
            self._keys[key] = tenant.name

    def put_tenant(self, body: Mapping[str, Any]) -> dict[str, Any]:
        tenant = _validated(TenantConfig, body)
        with self._lock:
            self._add_tenant(tenant)
        self._wake.set()
        return tenant.model_dump(mode="json", exclude={"api_keys", "webhook_secret"})

    def tenant_for_key(self, api_key: str | None) -> str | None:
        return self._keys.get(api_key) if api_key else None

    def tenant_config(self, tenant: str) -> TenantConfig:
        return self._state(tenant).config

    def _state(self, tenant: str) -> TenantState:
        state = self._tenants.get(tenant)
        if state is None:
            raise ApiError(404, "UnknownTenant", f"no tenant {tenant}")
        return state

    def default_tenant(self) -> str:
        return next(iter(self._tenants))

    def reset(self) -> None:
        """Forget all data (contacts, receipts, points, vouchers, faults, latency); keep the
        tenants."""
        with self._lock:
            for name, state in list(self._tenants.items()):
                self._tenants[name] = TenantState(state.config)
            self._faults.clear()
            self._latency = LatencyConfig()
            self._windows.clear()
            self._events.clear()
            self._requests.clear()
            self._offset = timedelta(0)
        self.dispatcher.clear()

    def close(self) -> None:
        self._closing.set()
        self._wake.set()
        if self._worker is not None:
            self._worker.join(timeout=5)
        self.dispatcher.close()

    def hang(self, seconds: float) -> bool:
        """Sleep like a stuck server; True when released early because the engine closes."""
        return self._closing.wait(seconds)

    # --- admission ---------------------------------------------------------------------------

    def set_faults(self, body: Mapping[str, Any]) -> dict[str, Any]:
        config = _validated(FaultConfig, body)
        counters = ("error_next", "rate_limited_next", "hang_next", "commit_next")
        with self._lock:
            self._faults.append(_Fault(config, {c: getattr(config, c) for c in counters}))
        return self.faults()

    def faults(self) -> dict[str, Any]:
        with self._lock:
            return {
                "faults": [
                    {**f.config.model_dump(mode="json", exclude={"api_key"}), "left": f.left}
                    for f in self._faults
                ]
            }

    def set_latency(self, body: Mapping[str, Any]) -> dict[str, Any]:
        config = _validated(LatencyConfig, body)
        with self._lock:
            self._latency = config
        return self.latency()

    def latency(self) -> dict[str, Any]:
        with self._lock:
            return self._latency.model_dump(mode="json")

    def serve_latency(self) -> None:
        """Hold an API request for the injected latency (released early when the engine
        closes, like a hang)."""
        with self._lock:
            seconds = self._latency.latency_ms / 1000
        if seconds > 0:
            self.hang(seconds)

    def admit(self, api_key: str, path: str) -> Admission:
        with self._lock:
            for fault in self._faults:
                config = fault.config
                if config.api_key not in (None, api_key):
                    continue
                if config.path_prefix and not path.startswith(config.path_prefix):
                    continue
                if fault.take("error_next"):
                    return Admission(ApiError(config.error_status, "InjectedFault"))
                if fault.take("rate_limited_next"):
                    return Admission(ApiError(429, "TooManyRequests", "Too Many Requests"))
                if fault.take("hang_next"):
                    return Admission(hang_seconds=config.hang_seconds)
                if fault.take("commit_next"):
                    hang = config.hang_seconds if config.commit_hang else 0.0
                    return Admission(drop_status=config.commit_status, drop_hang=hang)
            return self._rate_limit(api_key)

    def _rate_limit(self, api_key: str) -> Admission:
        # Per API key, per clock second (https://developer.voyado.com/en/api/api-rate-limit.html
        # documents the status only: no Retry-After or rate headers are sent).
        limit = self._state(self._keys[api_key]).config.rate_limit_per_second
        second = int(self.now().timestamp())
        start, count = self._windows.get(api_key, (second, 0))
        if start != second:
            start, count = second, 0
        self._windows[api_key] = (start, count + 1)
        if count + 1 > limit:
            return Admission(ApiError(429, "TooManyRequests", "Too Many Requests"))
        return Admission()

    def record_request(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self._requests.append({"seq": len(self._requests) + 1, **entry})

    def requests_since(self, since: int = 0) -> list[dict[str, Any]]:
        with self._lock:
            return [r for r in self._requests if r["seq"] > since]

    # --- contacts ----------------------------------------------------------------------------

    def find_contact_id(self, tenant: str, query: Mapping[str, str]) -> str:
        with self._lock:
            return contact_ops.find_contact_id(self._state(tenant), query)

    def create_contact(
        self,
        tenant: str,
        body: Any,
        query: Mapping[str, str],
        *,
        allow_duplicate: bool | None = None,
    ) -> dict[str, Any]:
        if not isinstance(body, Mapping):
            raise ApiError(400, "InvalidModel", "the body must be a contact object")
        with self._lock:
            contact = contact_ops.create_contact(
                self._state(tenant), body, query, self.now(), allow_duplicate=allow_duplicate
            )
            return contact.view()

    def get_contact(self, tenant: str, contact_id: str) -> dict[str, Any]:
        with self._lock:
            return contact_ops.get_contact(self._state(tenant), contact_id).view()

    # --- receipts ----------------------------------------------------------------------------

    def post_receipt(self, tenant: str, body: Any) -> bool:
        """Accept a receipt for the batch; False when it is a duplicate (ignored)."""
        with self._lock:
            state = self._state(tenant)
            receipt = receipt_ops.validate(body)
            receipt_ops.group_rate(state, receipt)
            if state.seen_receipt(receipt.uniqueReceiptId):
                state.duplicates += 1
                return False
            contact_id = None
            if state.config.silent.receipt_references == "sync":
                contact_id = receipt_ops.check_references(state, receipt)
            state.pending.append(
                ReceiptRecord(receipt.uniqueReceiptId, dict(body), self.now(), contact_id)
            )
        self._wake.set()
        return True

    def process_pending(self, tenant: str | None = None, *, force: bool = True) -> int:
        """Apply pending receipts (all of them when `force`, else those whose batch is due)."""
        events: list[tuple[TenantConfig, Event]] = []
        applied = 0
        with self._lock:
            now = self.now()
            names = [tenant] if tenant else list(self._tenants)
            for name in names:
                state = self._state(name)
                interval = state.config.batch_interval_seconds
                if not force and interval is None:
                    continue
                wait = timedelta(seconds=interval or 0)
                due = [r for r in state.pending if force or r.accepted_at + wait <= now]
                for record in due:
                    state.pending.remove(record)
                    try:
                        produced = receipt_ops.process(state, record, now)
                    except ApiError as exc:
                        state.failed.append(
                            {
                                "uniqueReceiptId": record.unique_receipt_id,
                                "errorCode": exc.code,
                                "message": exc.message,
                                "at": now.isoformat(),
                            }
                        )
                        continue
                    applied += 1
                    events += [(state.config, e) for e in produced]
        self._emit(events)
        return applied

    def _run_batches(self) -> None:
        while not self._closing.is_set():
            self._wake.wait(timeout=0.2)
            self._wake.clear()
            if self._closing.is_set():
                return
            try:
                self.process_pending(force=False)
            except Exception as exc:  # the worker must survive a bug in one receipt
                log_event(
                    logger, "sandbox.voyado.batch_error", level=logging.ERROR, error=repr(exc)
                )

    # --- points and vouchers -----------------------------------------------------------------

    def point_accounts(self, tenant: str, contact_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return rewards.point_accounts(self._state(tenant), contact_id, self.now())

    def point_transactions(self, tenant: str, query: Mapping[str, str]) -> list[dict[str, Any]]:
        with self._lock:
            return rewards.point_transactions(self._state(tenant), query, self.now())

    def add_point_transactions(
        self, tenant: str, rows: Any, idempotency_key: str | None
    ) -> tuple[int, Any]:
        with self._lock:
            state = self._state(tenant)
            now = self.now()
            if idempotency_key:
                stored = rewards.remembered(state, idempotency_key, now)
                if stored is not None:
                    return stored.status, stored.body
            body, produced = rewards.add_point_transactions(state, rows, now)
            status = state.config.silent.point_transactions_status
            if idempotency_key:
                state.idempotency[idempotency_key] = StoredAnswer(status, body, now)
            events = [(state.config, e) for e in produced]
        self._emit(events)
        return status, body

    def vouchers(self, tenant: str, contact_id: str, which: str) -> list[dict[str, Any]]:
        with self._lock:
            return rewards.vouchers(self._state(tenant), contact_id, which, self.now())

    def redeem(self, tenant: str, voucher_id: str) -> dict[str, Any]:
        with self._lock:
            return rewards.redeem(self._state(tenant), voucher_id, self.now()).view()

    def reactivate(self, tenant: str, voucher_id: str) -> dict[str, Any]:
        with self._lock:
            return rewards.reactivate(self._state(tenant), voucher_id, self.now()).view()

    # --- webhooks ----------------------------------------------------------------------------

    def _emit(self, events: Iterable[tuple[TenantConfig, Event]]) -> None:
        for config, event in events:
            with self._lock:
                self._events.append(
                    {"seq": len(self._events) + 1, "tenant": config.name, "topic": event.topic}
                    | {"payload": event.payload}
                )
            if config.webhook_url:
                self.dispatcher.send(
                    config.webhook_url,
                    config.webhook_secret,
                    config.name,
                    event.topic,
                    event.payload,
                )

    def events(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._events)

    # --- inspection --------------------------------------------------------------------------

    def contact_state(self, tenant: str, contact_id: str) -> dict[str, Any]:
        with self._lock:
            state = self._state(tenant)
            contact = contact_ops.get_contact(state, contact_id)
            now = self.now()
            mine = [a for a in state.accounts.values() if a.contact_id == contact.id]
            return {
                "contact": contact.view(),
                "balance": sum((a.balance(now) for a in mine), 0),
                "pendingPoints": sum((a.pending_points(now) for a in mine), 0),
                "accounts": [a.view(now) for a in mine],
                "transactions": [t.view() for a in mine for t in a.transactions],
                "receipts": [
                    r.view() for r in state.receipts.values() if r.contact_id == contact.id
                ],
                "pendingReceipts": [
                    r.unique_receipt_id for r in state.pending if r.contact_id == contact.id
                ],
                "vouchers": [
                    {**v.view(), "status": v.status(now), "reactivations": v.reactivations}
                    for v in state.vouchers.values()
                    if v.contact_id == contact.id
                ],
            }

    def state(self, tenant: str | None = None) -> dict[str, Any]:
        with self._lock:
            names = [tenant] if tenant else list(self._tenants)
            out: dict[str, Any] = {"now": self.now().isoformat(), "tenants": {}}
            for name in names:
                state = self._state(name)
                out["tenants"][name] = {
                    "contacts": [c.view() for c in state.contacts.values()],
                    "receipts": [r.view() for r in state.receipts.values()],
                    "pendingReceipts": [r.unique_receipt_id for r in state.pending],
                    "failedReceipts": list(state.failed),
                    "duplicateReceipts": state.duplicates,
                    "vouchers": len(state.vouchers),
                    "idempotencyKeys": len(state.idempotency),
                }
            return out

    def config_view(self) -> dict[str, Any]:
        with self._lock:
            return {
                "tenants": [
                    s.config.model_dump(mode="json", exclude={"api_keys", "webhook_secret"})
                    for s in self._tenants.values()
                ],
                "webhook_retry_delays": self._config.webhook_retry_delays,
            }
