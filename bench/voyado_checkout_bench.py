"""A Voyado reward voucher applied at the cart: the API Extension's latency for a store served
by Voyado Engage, on this machine.

The service app runs as `make run PROVIDER=voyado` starts it (gunicorn, 2 workers × 4
threads, `StackOptions(provider="voyado")`) and receives extension calls straight from this
process. Each cart asks for a member's reward voucher; the app's critical path
(service/extension.py, shared/providers/voyado_rewards.py, docs/adr/0095) is two Voyado
round trips, one after the other: the contact by customKey (the tenant's customKey is the
externalId the connector writes, the member id; the commercetools customer record is read
meanwhile, for its email), then the contact's available vouchers. The voucher is decided by
the pure rules and applied sealed; nothing is redeemed before payment, so no third call.

The Voyado stand-in answers at 0 ms and at 100 ms of injected latency
(`POST /_sandbox/latency`, sandbox/voyado/README.md). One caller at a time, 200 calls, each
call paired with "Voyado alone" (the same two round trips sent straight to the stand-in from
a bare keep-alive client, bench/redemption_timing.py) and split by the app's own log lines;
the goal is issue #11 item 7's, p99 <= Voyado's time + 30 ms, checked against the injected
latency and against Voyado alone. Then 8 callers: queueing for the machine's CPUs, which
the stand-ins and this load generator share with the app, not the goal's reading.

Vouchers: one commercetools customer and one Voyado contact (externalId = the customer id)
per call, each given one voucher's worth of points, so call n validates member n's own
voucher. The cart never redeems it (the bench checks that no redeem call reached Voyado and
that every voucher is still available at the end), so the same voucher is validated again at
each latency and by the 8-caller runs.
"""

from __future__ import annotations

import gc
import json
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import requests

from bench.load import run_load
from bench.redemption_timing import (
    BareHttp,
    BareVoyado,
    correlation_header,
    crowd_lines,
    figures,
    paired_report,
    run_paired,
    split_sequential_from_logs,
)
from bench.service_bench import cart
from sandbox.stack import (
    EXTENSION_SECRET,
    VOYADO_API_KEY,
    VOYADO_STORE,
    VOYADO_TENANT,
    VOYADO_VOUCHER_STEP_POINTS,
    SandboxStack,
    StackOptions,
    voyado_config,
    voyado_provider_entry,
)
from shared.domain.loyalty_fields import CartFields as F
from shared.voyado import VoyadoClient

CALLS = 200
CONCURRENCY = 8
VOYADO_LATENCIES_MS = (0, 100)
# Sequential Voyado round trips on the critical path: the contact look-up, then its vouchers
# (the app's log lines count them again on every call, printed with the figures).
VOYADO_ROUND_TRIPS = 2
# Issue #11 item 7: a redemption's p99 at most the provider's own time plus this.
GOAL_MS = 30.0
WORKERS = 2
THREADS = 4
# Voyado's documented hard limit per API key (https://developer.voyado.com/en/api/api-rate-
# limit.html), the most `rateLimitPerSecond` accepts. Each worker gets all of it
# (`YOTPO_RATE_SHARERS=1`, which shares every provider's rate) and the stand-in limits
# nothing: the bench measures the connector, not the limiter.
CLIENT_RATE_PER_SECOND = 200
STANDIN_RATE_PER_SECOND = 1_000_000


@dataclass(frozen=True)
class Member:
    customer_id: str
    email: str
    contact_id: str
    voucher_id: str


def stack_options(log_dir: Path) -> StackOptions:
    """The service app alone under gunicorn with the Voyado stand-in beside it. `log_dir`:
    a directory of its own, the split reads the service app's log lines."""
    return StackOptions(
        pubsub="direct",
        provider="voyado",
        apps=("service",),
        workers=WORKERS,
        threads=THREADS,
        app_env={"REWARD_BASE_CURRENCY": "EUR", "YOTPO_RATE_SHARERS": "1"},
        log_dir=log_dir,
    )


def with_client_rate(stack: SandboxStack) -> None:
    """The Voyado store's LOYALTY_PROVIDERS entry at the documented limit (the sandbox's
    entry leaves the connector's cautious default). Set before the stack starts: the entry
    names the stand-in's port, which the stack picks when it is made."""
    entry = voyado_provider_entry(stack.voyado_url)
    entry["rateLimitPerSecond"] = CLIENT_RATE_PER_SECOND
    stack.options.app_env = {
        **stack.options.app_env,
        "LOYALTY_PROVIDERS": json.dumps({VOYADO_STORE: entry}),
    }


def quiet_tenant(stack: SandboxStack) -> None:
    """The sandbox tenant without its rate limit and without webhooks (seeding makes a
    voucher per member; its webhooks would keep the service app busy while it is measured).
    `POST /_sandbox/tenants` replaces the settings and keeps the data."""
    (tenant,) = voyado_config()["tenants"]
    response = requests.post(
        f"{stack.voyado_url}/_sandbox/tenants",
        json={**tenant, "rate_limit_per_second": STANDIN_RATE_PER_SECOND},
        timeout=5,
    )
    response.raise_for_status()


def seed_members(stack: SandboxStack, voyado: VoyadoClient, count: int) -> list[Member]:
    """`count` customers of the Voyado store, each a Voyado contact (externalId = the customer
    id, as the connector makes them) holding exactly one available reward voucher."""
    ct = stack.commercetools()
    made: list[tuple[str, str, str]] = []
    for n in range(count):
        email = f"voyado-bench-{n}@example.com"
        created = ct.create(
            "customers",
            {
                "email": email,
                "firstName": "Bench",
                "lastName": str(n),
                "password": "x1!",
                "stores": [{"typeId": "store", "key": VOYADO_STORE}],
            },
        )
        customer_id = str(created.get("customer", created)["id"])
        contact = stack.voyado_seed_contact({"email": email, "externalId": customer_id})
        made.append((customer_id, email, str(contact["id"])))
    # The tenant's step model turns every VOYADO_VOUCHER_STEP_POINTS into one voucher
    # (https://voyado.mintlify.app/docs/loyalty/vouchers).
    stamp = datetime.now(UTC).isoformat()
    rows = [
        {
            "contactId": contact_id,
            "amount": VOYADO_VOUCHER_STEP_POINTS,
            "definitionId": 1,
            "timeStamp": stamp,
            "source": "bench",
            "description": "one reward voucher",
        }
        for _, _, contact_id in made
    ]
    result = voyado.add_point_transactions(rows, idempotency_key="voyado-bench-seed")
    if not result.all_accepted:
        raise RuntimeError(f"the stand-in refused seed rows: {result}")
    members: list[Member] = []
    for customer_id, email, contact_id in made:
        vouchers = voyado.available_vouchers(contact_id)
        if len(vouchers) != 1:
            raise RuntimeError(f"contact {contact_id} holds {len(vouchers)} vouchers, not one")
        members.append(Member(customer_id, email, contact_id, str(vouchers[0]["id"])))
    return members


def still_available(voyado: VoyadoClient, members: list[Member]) -> int:
    """How many members' vouchers are still available (the cart redeems none)."""
    return sum(
        1
        for m in members
        if any(str(v["id"]) == m.voucher_id for v in voyado.available_vouchers(m.contact_id))
    )


def redeem_calls(stack: SandboxStack) -> int:
    """Redeem calls the Voyado stand-in received."""
    return sum(
        1
        for r in stack.voyado_requests(0)
        if r["method"] == "POST" and str(r["path"]).endswith("/redeem")
    )


def extension_bodies(members: list[Member]) -> list[bytes]:
    """Update requests as commercetools sends them: a 30-line EUR cart of the Voyado store
    asking for member n's voucher."""
    bodies = []
    for n, member in enumerate(members):
        obj = cart(n, {F.REQUESTED_OPTION: member.voucher_id}, customer=member.customer_id)
        obj["customerEmail"] = member.email
        obj["store"] = {"typeId": "store", "key": VOYADO_STORE}
        update = {"action": "Update", "resource": {"typeId": "cart", "id": obj["id"], "obj": obj}}
        bodies.append(json.dumps(update).encode())
    return bodies


def set_latency(stack: SandboxStack, latency_ms: int) -> None:
    requests.post(
        f"{stack.voyado_url}/_sandbox/latency", json={"latency_ms": latency_ms}, timeout=5
    ).raise_for_status()


def vouchers_at_cart(
    stack: SandboxStack, members: list[Member], log_dir: Path, *, calls: int = CALLS
) -> list[str]:
    """The voucher applied at each Voyado latency: one caller (the goal's reading), paired
    call by call with Voyado alone and split by the app's log lines; then 8 callers."""
    url = f"{stack.url('service')}/service"
    # commercetools' side of the call: the same lean client as Voyado alone, bodies encoded
    # before the clock starts (neither is the connector's time).
    extension = BareHttp(url, {"Authorization": f"Bearer {EXTENSION_SECRET}"})
    bare = BareVoyado(stack.voyado_url, VOYADO_API_KEY)
    bodies = extension_bodies(members)
    lines: list[str] = []
    verdicts: list[str] = []
    # The measuring client's own full collections are neither the connector's time nor
    # Voyado's (https://docs.python.org/3/library/gc.html#gc.freeze).
    gc.collect()
    gc.freeze()

    def applied(n: int, correlation: str) -> bool:
        status, answer = extension.send(
            "POST", "", bodies[n % len(bodies)], correlation_header(correlation)
        )
        return status == 200 and bool(json.loads(answer).get("actions"))

    def voyado_alone(n: int) -> None:
        if bare.voucher_check(members[n % len(members)].customer_id) != 1:
            raise RuntimeError("Voyado alone did not find the member's one voucher")

    def crowd_call(n: int) -> Callable[[], bool]:
        return lambda: applied(n, f"bench-voyado-crowd-{n}")

    try:
        for latency in VOYADO_LATENCIES_MS:
            set_latency(stack, latency)
            injected = VOYADO_ROUND_TRIPS * latency
            title = (
                f"Voyado voucher at the cart, Voyado at {latency} ms ({VOYADO_ROUND_TRIPS} "
                f"sequential Voyado round trips = {injected} ms)"
            )
            paired = run_paired(calls, applied, voyado_alone, tag=f"voyado-{latency}")
            report = paired_report(title, "Voyado", paired, injected, GOAL_MS, latency)
            lines.extend(report.lines)
            split = split_sequential_from_logs(
                log_dir / "service.log", paired.extension_ms, service="voyado"
            )
            trips = Counter(split.round_trips)
            counted = ", ".join(f"{k} in {v} calls" for k, v in sorted(trips.items()))
            lines.append(
                f"  Voyado round trips per call (the app's log lines): {counted or 'no data'}; "
                "sequential (the voucher list is asked by the contact id the look-up answers)"
            )
            lines.append(
                f"  split: Voyado calls as the app timed them {figures(split.provider)}; the "
                f"commercetools customer read alongside {figures(split.alongside)}; rest "
                f"inside the app {figures(split.inside)}; outside the app (client, gunicorn) "
                f"{figures(split.outside)}"
            )
            verdicts.append(report.summary)

            crowd = run_load([crowd_call(n) for n in range(calls)], CONCURRENCY)
            lines.extend(crowd_lines(title, crowd, CONCURRENCY, injected, WORKERS, THREADS))
    finally:
        set_latency(stack, 0)
        gc.unfreeze()  # the benches after this one collect as usual
    lines.append(
        f"GOAL (issue #11 item 7, one caller, p99 <= Voyado's time + {GOAL_MS} ms): "
        + "; ".join(verdicts)
    )
    return lines


def run() -> list[str]:
    options = stack_options(Path(tempfile.mkdtemp(prefix="voyado-checkout-bench-")))
    stack = SandboxStack(options)
    with_client_rate(stack)
    lines: list[str] = []
    with stack:
        quiet_tenant(stack)
        voyado = VoyadoClient(stack.voyado_url, VOYADO_API_KEY, rate_limit_per_second=200)
        members = seed_members(stack, voyado, CALLS)
        lines.append(
            f"seeded {len(members)} customers of store {VOYADO_STORE!r}, each a Voyado contact "
            f"(tenant {VOYADO_TENANT!r}, externalId = customer id) with one reward voucher; "
            "call n validates member n's voucher"
        )
        lines += vouchers_at_cart(stack, members, options.log_dir)
        left, redeemed = still_available(voyado, members), redeem_calls(stack)
        lines.append(
            f"vouchers still available after every run: {left} of {len(members)}; redeem "
            f"calls that reached Voyado: {redeemed} (nothing is redeemed at the cart)"
        )
        if left != len(members) or redeemed:
            raise RuntimeError("the cart redeemed a voucher before payment")
    lines.append(
        f"one instance: {WORKERS} gunicorn workers × {THREADS} threads; the connector's Voyado "
        f"limiter at {CLIENT_RATE_PER_SECOND}/s per worker, the stand-in's limit off"
    )
    return lines
