"""A redemption's critical path, measured three ways in the same run.

- The extension call as commercetools would see it (the bench's HTTP client).
- Yotpo alone: the same two sequential round trips (the customer and the options offered to
  them at once, then the redemption) sent straight to the stand-in from a bare keep-alive
  HTTP client, interleaved call by call with the extension's, so both see the same machine.
  This is "Yotpo's own time": the injected latency plus whatever the stand-in itself spends.
- The split of each extension call, from the service app's own log lines (joined on the
  correlation id the bench sends): the Yotpo calls as the app timed them, the rest of the
  request inside the app, and what lies outside the app's view (client, gunicorn, loopback).
"""

from __future__ import annotations

import http.client
import json
import os
import statistics
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from bench.load import LoadResult
from shared.correlation import HEADER


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (the bench's LoadResult uses the same rule)."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


class BareHttp:
    """A minimal keep-alive HTTP/1.1 client, one connection per thread: what a measuring
    client should cost (requests adds about a millisecond and a half per call on this
    machine, which is neither the connector's time nor Yotpo's)."""

    def __init__(self, base_url: str, headers: dict[str, str] | None = None) -> None:
        parts = urlsplit(base_url)
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or 80
        self.prefix = parts.path.rstrip("/")
        self._headers = dict(headers or {})
        self._local = threading.local()

    def send(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, bytes]:
        sent = {**self._headers, **(headers or {})}
        if body is not None:
            sent["Content-Type"] = "application/json"
        for attempt in (1, 2):
            connection = getattr(self._local, "connection", None)
            reused = connection is not None
            if connection is None:
                connection = http.client.HTTPConnection(self._host, self._port, timeout=10)
                self._local.connection = connection
            try:
                connection.request(method, self.prefix + path, body=body, headers=sent)
                answer = connection.getresponse()
                data = answer.read()
            except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
                connection.close()
                self._local.connection = None
                # A kept-alive connection the server closed while idle (gunicorn's keepalive
                # is 2 s): it read nothing of this request, so sending it again is safe.
                if reused and attempt == 1:
                    continue
                raise
            except (OSError, http.client.HTTPException):
                connection.close()
                self._local.connection = None
                raise
            if answer.will_close:
                connection.close()
                self._local.connection = None
            return answer.status, data
        raise AssertionError("unreachable")


class BareYotpo:
    """The redemption's Yotpo round trips with as little client as HTTP allows: one
    persistent connection per concurrent call, no retries, no logging."""

    def __init__(self, api_url: str, guid: str, api_key: str) -> None:
        self._http = BareHttp(
            api_url, {"X-GUID": guid, "X-API-KEY": api_key, "Accept": "application/json"}
        )

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> None:
        payload = json.dumps(body).encode() if body is not None else None
        status, _ = self._http.send(method, path, payload)
        if status >= 400:
            raise RuntimeError(f"the stand-in answered {status} to {method} {path}")

    def redeem(self, member: str, option_id: int = 1) -> None:
        """GET customer and GET options at once, then POST the redemption."""
        customer_path = "/customers?" + urlencode(
            {"customer_id": member, "with_referral_code": "false", "with_history": "false"}
        )
        options_path = "/redemption_options?" + urlencode({"customer_id": member})
        failure: list[BaseException] = []

        def options() -> None:
            try:
                self._call("GET", options_path)
            except BaseException as exc:  # reported by the caller
                failure.append(exc)

        other = threading.Thread(target=options)
        other.start()
        self._call("GET", customer_path)
        other.join()
        if failure:
            raise failure[0]
        self._call(
            "POST",
            "/redemptions",
            {
                "customer_id": member,
                "customer_email": f"{member}@example.com",
                "redemption_option_id": option_id,
                "delay_points_deduction": False,
                "currency": "EUR",
            },
        )


@dataclass
class Paired:
    """Extension calls and Yotpo-alone sequences, one of each per round."""

    extension_ms: dict[str, float] = field(default_factory=dict)
    yotpo_ms: list[float] = field(default_factory=list)
    errors: int = 0

    @property
    def extension(self) -> list[float]:
        return list(self.extension_ms.values())


def run_paired(
    calls: int,
    extension_call: Callable[[int, str], bool],
    yotpo_alone: Callable[[int], None],
    tag: str,
    *,
    pair_every: int = 1,
) -> Paired:
    """`calls` rounds: the extension call `n` (with correlation id), then, every
    `pair_every` rounds, Yotpo alone."""
    paired = Paired()
    for n in range(calls):
        correlation = f"bench-{tag}-{n}"
        started = time.perf_counter()
        ok = extension_call(n, correlation)
        paired.extension_ms[correlation] = (time.perf_counter() - started) * 1000
        paired.errors += 0 if ok else 1
        if n % pair_every == 0:
            started = time.perf_counter()
            yotpo_alone(n)
            paired.yotpo_ms.append((time.perf_counter() - started) * 1000)
    return paired


def _log_lines(path: Path) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if not path.exists():
        return found
    for raw in path.read_text(errors="replace").splitlines():
        if raw.startswith("{"):
            try:
                found.append(json.loads(raw))
            except ValueError:
                continue
    return found


@dataclass
class Split:
    yotpo: list[float]
    inside: list[float]
    outside: list[float]


def split_from_logs(log: Path, extension_ms: dict[str, float], wait: float = 2.0) -> Split:
    """Each extension call's time split by the app's log lines (missing lines are skipped)."""
    every, served = _calls_by_correlation(log, extension_ms, wait)
    calls = {k: [c for c in v if c.get("service") == "yotpo"] for k, v in every.items()}
    split = Split([], [], [])
    for correlation, total in extension_ms.items():
        if correlation not in served:
            continue
        made = calls.get(correlation, [])
        reads = [float(c["duration_ms"]) for c in made if c.get("method") == "GET"]
        writes = [float(c["duration_ms"]) for c in made if c.get("method") != "GET"]
        critical = (max(reads) if reads else 0.0) + sum(writes)
        split.yotpo.append(critical)
        split.inside.append(served[correlation] - critical)
        split.outside.append(total - served[correlation])
    return split


def figures(values: list[float]) -> str:
    if not values:
        return "no data"
    return f"p50 {statistics.median(values):.1f} ms, p99 {percentile(values, 99):.1f} ms"


def correlation_header(correlation: str) -> dict[str, str]:
    return {HEADER: correlation}


def verdict(above: float, goal_ms: float) -> str:
    """A p99's margin against a goal, as every redemption bench prints it."""
    return f"goal <= {goal_ms} ms: {'met' if above <= goal_ms else 'NOT met'}"


@dataclass(frozen=True)
class PairedReport:
    """A one-caller paired run as every redemption bench prints it: the lines, the two margins
    of the p99 (over the injected latency, over the provider alone) and the GOAL summary."""

    lines: list[str]
    strict: float
    measured: float
    summary: str


def paired_report(
    title: str, label: str, paired: Paired, injected: float, goal_ms: float, latency: int
) -> PairedReport:
    """`label`: the provider's name ("Yotpo", "Voyado"), whose alone run `paired` holds."""
    ours, alone = paired.extension, paired.yotpo_ms
    p99 = percentile(ours, 99)
    strict = p99 - injected
    measured = p99 - percentile(alone, 99)
    lines = [
        f"{title}, 1 caller: {len(ours)} req; latency {figures(ours)}; errors {paired.errors}",
        f"  {label} alone (the same round trips straight to the stand-in, interleaved): "
        f"{len(alone)} x, {figures(alone)}",
        f"  p99 above the injected latency: {strict:.1f} ms ({verdict(strict, goal_ms)})",
        f"  p99 above {label} alone's p99: {measured:.1f} ms ({verdict(measured, goal_ms)})",
    ]
    summary = (
        f"{label} at {latency} ms: {strict:+.1f} ms over injected "
        f"({'met' if strict <= goal_ms else 'NOT met'}), {measured:+.1f} ms over {label} "
        f"alone ({'met' if measured <= goal_ms else 'NOT met'})"
    )
    return PairedReport(lines, strict, measured, summary)


def crowd_lines(
    title: str, crowd: LoadResult, callers: int, injected: float, workers: int, threads: int
) -> list[str]:
    """A many-caller run as every redemption bench prints it: queueing, not the goal's reading."""
    above = crowd.percentile(99) * 1000 - injected
    return [
        f"{title}, {callers} callers: " + crowd.summary(),
        f"  p99 above the injected latency: {above:.1f} ms (queueing for {workers} x {threads} "
        f"threads and {os.cpu_count()} CPUs shared with the stand-ins and this load generator; "
        "not the goal's reading)",
    ]


class BareVoyado:
    """A Voyado reward voucher's round trips at the cart with as little client as HTTP allows
    (one persistent connection per thread, no retries, no logging): the contact by customKey
    (https://developer.voyado.com/en/contacts/identify-contact/find-contact.html), then its
    available vouchers (https://voyado.mintlify.app/docs/loyalty/vouchers). Sequential: the
    list is asked by the contact id the look-up answers."""

    def __init__(self, base_url: str, api_key: str, user_agent: str = "VoyadoBench/1.0") -> None:
        # The three headers Voyado requires
        # (https://developer.voyado.com/en/api/api-authentication.html).
        self._http = BareHttp(
            base_url,
            {
                "apikey": api_key,
                "User-Agent": user_agent,
                "Content-Type": "application/json",
                "Accept": "application/json",
            },
        )

    def _get(self, path: str, params: dict[str, str]) -> Any:
        status, body = self._http.send("GET", f"{path}?{urlencode(params)}")
        if status >= 400:
            raise RuntimeError(f"the stand-in answered {status} to GET {path}")
        return json.loads(body)

    def voucher_check(self, custom_key: str) -> int:
        """GET the contact id by customKey, then GET its available vouchers; how many."""
        contact_id = self._get("/api/v3/contacts/id", {"customKey": custom_key})
        listed = self._get("/api/v3/reward-vouchers/available", {"contactId": str(contact_id)})
        items = listed.get("items", []) if isinstance(listed, dict) else listed
        return len(items)


@dataclass
class CallSplit:
    """Each extension call split by the app's log lines, for a provider whose calls on the
    critical path run one after another: `provider` their summed time as the app timed
    them, `alongside` the longest call to another service made meanwhile (a commercetools
    read running with the first provider call), `inside` the rest of the request inside the
    app, `outside` what lies outside the app's view (client, gunicorn, loopback).
    `round_trips`: how many calls to the provider each extension call made."""

    provider: list[float]
    alongside: list[float]
    inside: list[float]
    outside: list[float]
    round_trips: list[int]


def _calls_by_correlation(
    log: Path, extension_ms: dict[str, float], wait: float
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, float]]:
    """The app's outgoing calls (`http.call`) and served time (`http.request`) per correlation
    id, waiting up to `wait` seconds for the app's last lines to reach the file."""
    deadline = time.monotonic() + wait
    while True:
        calls: dict[str, list[dict[str, Any]]] = defaultdict(list)
        served: dict[str, float] = {}
        for line in _log_lines(log):
            correlation = line.get("correlation_id")
            if correlation not in extension_ms:
                continue
            if line.get("event") == "http.call":
                calls[correlation].append(line)
            elif line.get("event") == "http.request":
                served[correlation] = float(line["duration_ms"])
        if len(served) >= len(extension_ms) or time.monotonic() > deadline:
            return calls, served
        time.sleep(0.2)


def split_sequential_from_logs(
    log: Path, extension_ms: dict[str, float], *, service: str, wait: float = 2.0
) -> CallSplit:
    """`CallSplit` of each extension call whose `service` calls are sequential (missing lines
    are skipped)."""
    calls, served = _calls_by_correlation(log, extension_ms, wait)
    split = CallSplit([], [], [], [], [])
    for correlation, total in extension_ms.items():
        if correlation not in served:
            continue
        made = calls[correlation]
        own = [float(c["duration_ms"]) for c in made if c.get("service") == service]
        others = [float(c["duration_ms"]) for c in made if c.get("service") != service]
        split.provider.append(sum(own))
        split.alongside.append(max(others, default=0.0))
        split.round_trips.append(len(own))
        split.inside.append(served[correlation] - sum(own))
        split.outside.append(total - served[correlation])
    return split
