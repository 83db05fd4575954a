"""The job app: the scheduled tick at `POST /job`, and operator tasks over HTTP.

Bodies (JSON):
- `{}` or `{"task": "nightly"}` — the nightly run (write-back of balances and
  tiers); a POST with no body at all (what a scheduler sends) means the same;
- `{"task": "backfill", "since": "2025-01-01", "until"?, "store"?, "dryRun"?, "restart"?}`;
- `{"task": "audit", "since": "2025-01-01", "until"?, "store"?, "recover"?}` (stuck orders
  are re-sent unless `"recover": false`).

Each run stays inside `NIGHTLY_BUDGET_SECONDS` and answers with its summary. Outcomes that
need no retry (complete, budget_exhausted — the next run continues —, already_running) are
200; an interrupted run (commercetools failing, lock lost) is 503; a configuration problem
is 500.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from flask import Flask, Response, g, jsonify, request
from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError, field_validator

from job.audit import audit
from job.backfill import Backfill
from job.clients import JobClients, build_job_clients
from job.nightly import NightlyJob
from job.orders import OrderRange, parse_moment
from job.settings import JobSettings
from shared.oidc import GoogleCerts, protect
from shared.runtime import Runtime
from shared.webapp import create_base_app, error_response, json_body

_RETRY_OUTCOMES = frozenset({"lock_lost", "interrupted"})
_FAILED_OUTCOMES = frozenset({"misconfigured"})


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class NightlyRequest(_Request):
    task: Literal["nightly"] = "nightly"


class _RangeRequest(_Request):
    since: str
    until: str | None = None
    store: str | None = None

    @field_validator("since", "until")
    @classmethod
    def _moment(cls, value: str | None) -> str | None:
        if value is not None:
            parse_moment(value)
        return value

    def order_range(self) -> OrderRange:
        return OrderRange(
            since=parse_moment(self.since),
            until=parse_moment(self.until) if self.until else None,
            store=self.store or None,
        )


class BackfillRequest(_RangeRequest):
    task: Literal["backfill"]
    dry_run: bool = Field(default=False, alias="dryRun")
    restart: bool = False


class AuditRequest(_RangeRequest):
    task: Literal["audit"]
    recover: StrictBool = True  # re-send stuck orders (false: only list them)


JobRequest = Annotated[NightlyRequest | BackfillRequest | AuditRequest, Field(discriminator="task")]


class _Envelope(BaseModel):
    request: JobRequest


def parse_request(body: dict[str, Any]) -> NightlyRequest | BackfillRequest | AuditRequest:
    return _Envelope.model_validate({"request": {"task": "nightly", **body}}).request


def create_app(
    settings: JobSettings,
    runtime: Runtime | None = None,
    clients: JobClients | None = None,
    oidc_certs: GoogleCerts | None = None,
) -> Flask:
    # The job never uses the live runtime's Yotpo clients: it has its own, at its share of the
    # rate limit (`runtime` is accepted for the common app factory signature).
    clients = clients or build_job_clients(settings)
    reconciler = NightlyJob(settings, clients)
    backfill = Backfill(settings, clients, out=lambda line: None)
    app = create_base_app("job")

    @app.post("/job")
    def tick() -> tuple[Response, int]:
        # A scheduler may POST nothing at all; a body that claims to be JSON must be JSON.
        empty = not request.get_data(cache=True) and not request.is_json
        body = {} if empty else json_body()
        try:
            job = parse_request(body)
            order_range = job.order_range() if not isinstance(job, NightlyRequest) else None
        except (ValidationError, ValueError) as exc:
            return error_response(400, "invalid_job_request", _problem(exc))
        budget = settings.nightly_budget_seconds
        if isinstance(job, NightlyRequest):
            summary = reconciler.run(budget).as_dict()
        elif isinstance(job, BackfillRequest):
            assert order_range is not None
            if job.dry_run:
                summary = backfill.dry_run(order_range).as_dict()
            else:
                summary = backfill.run(
                    order_range, budget_seconds=budget, restart=job.restart
                ).as_dict()
        else:
            assert order_range is not None
            assert isinstance(job, AuditRequest)
            summary = audit(settings, clients, order_range, recover=job.recover).as_dict()
            summary["outcome"] = "clean" if summary["clean"] else "mismatches"
        outcome = str(summary.get("outcome"))
        g.outcome = outcome
        status = 503 if outcome in _RETRY_OUTCOMES else 500 if outcome in _FAILED_OUTCOMES else 200
        return jsonify({"task": job.task, **summary}), status

    # Cloud Scheduler signs its calls with a Google OIDC token when configured (off if not set).
    protect(app, settings.oidc_verifier(oidc_certs), {"/job"})
    return app


def _problem(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        parts = []
        for err in exc.errors(include_input=False, include_url=False):
            where = ".".join(str(p) for p in err["loc"] if p not in ("request",))
            message = str(err["msg"]).removeprefix("Value error, ")
            parts.append(f"{where}: {message}" if where else message)
        return "; ".join(parts)
    return str(exc)
