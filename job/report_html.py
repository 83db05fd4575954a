"""`python -m job audit --html FILE`: the audit as one page a merchant can open in a browser.

Self-contained on purpose: the styles are inline and the chart is inline SVG, so the file works
offline, attached to an e-mail, or opened from a bucket, and loads nothing from anywhere (no
scripts at all). Every value that came from commercetools, Yotpo or the ledger (order numbers,
reasons, codes) is HTML-escaped where it is written.

The chart shows, per day and currency, the order value Yotpo was told about for earning (up)
and the refunds sent to take points back (down). The points themselves are computed by Yotpo
from these amounts with the program's earning rule, which the connector does not hold.
"""

from __future__ import annotations

from html import escape
from typing import Any

from job.audit import AuditReport
from shared.domain.money import currency_digits, format_minor

_EARNED = "#2f7d32"
_REVERSED = "#c62828"

_STYLE = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d232a;
background:#f6f7f9}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{font-size:24px;margin:0 0 4px} h2{font-size:18px;margin:28px 0 8px}
.muted{color:#5b6570} .card{background:#fff;border:1px solid #dde1e6;border-radius:8px;
padding:16px;margin:12px 0}
.badges{display:flex;gap:12px;flex-wrap:wrap;margin:16px 0}
.badge{background:#fff;border:1px solid #dde1e6;border-radius:8px;padding:10px 14px;min-width:130px}
.badge b{display:block;font-size:22px}
.ok b{color:#2f7d32} .bad b{color:#c62828}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{border-bottom:1px solid #e6e9ed;padding:7px 9px;text-align:left;vertical-align:top}
th{background:#eef1f4;font-weight:600}
td.reason{white-space:pre-wrap;word-break:break-word;font-family:ui-monospace,Menlo,monospace;
font-size:13px}
td.num{text-align:right;white-space:nowrap}
.legend span{display:inline-block;width:12px;height:12px;margin:0 6px 0 14px;vertical-align:-1px}
"""


def render_html(report: AuditReport) -> str:
    rng = report.range
    until = rng.get("until") or "now"
    store = rng.get("store") or "all stores"
    unresolved = [s for s in report.stuck if s.get("result") != "recovered"]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        # No network at all: the page is data, never code.
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; img-src data:\">",
        f"<title>Loyalty audit {escape(str(rng.get('since', ''))[:10])}</title>",
        f"<style>{_STYLE}</style></head><body><main>",
        "<h1>Loyalty audit: commercetools orders against what Yotpo was told</h1>",
        f'<p class="muted">Orders created from {escape(str(rng.get("since")))} to '
        f"{escape(str(until))}, {escape(str(store))}. Generated "
        f"{escape(report.generated_at)}.</p>",
        '<div class="badges">',
        _badge("orders audited", str(report.orders), ok=True),
        _badge("with mismatches", str(len(report.mismatches)), ok=not report.mismatches),
        _badge("stuck, unresolved", str(len(unresolved)), ok=not unresolved),
        _badge(
            "cancellations not honoured",
            str(len(report.refused_cancellations)),
            ok=not report.refused_cancellations,
        ),
        "</div>",
        _totals(report),
        "<h2>Sent to Yotpo per day</h2>",
        _charts(report.daily),
        "<h2>Mismatches</h2>",
        _mismatches(report),
        "<h2>Stuck orders</h2>",
        _stuck(report),
        "<h2>Yotpo cancellations not honoured</h2>",
        _refused(report),
        "<h2>Rewards consumed for carts never ordered</h2>",
        _consumptions(report),
        _counts(report),
        "</main></body></html>",
    ]
    return "\n".join(p for p in parts if p)


def _badge(label: str, value: str, *, ok: bool) -> str:
    return f'<div class="badge {"ok" if ok else "bad"}"><b>{escape(value)}</b>{escape(label)}</div>'


def _totals(report: AuditReport) -> str:
    currencies = sorted(set(report.earned_cents) | set(report.refunded_cents))
    if not currencies:
        return ""
    rows = "".join(
        f"<tr><td>{escape(c)}</td>"
        f'<td class="num">{escape(format_minor(report.earned_cents.get(c, 0), c))}</td>'
        f'<td class="num">{escape(format_minor(report.refunded_cents.get(c, 0), c))}</td></tr>'
        for c in currencies
    )
    return (
        "<table><thead><tr><th>currency</th><th>earning (order value sent)</th>"
        f"<th>reversed (refunds sent)</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def _charts(daily: dict[str, dict[str, list[int]]]) -> str:
    if not daily:
        return '<p class="muted">Nothing was sent to Yotpo for these orders.</p>'
    legend = (
        f'<p class="legend muted"><span style="background:{_EARNED}"></span>earning: order '
        f'value sent to Yotpo<span style="background:{_REVERSED}"></span>reversed: refunds sent '
        "(points follow from these amounts with the program's earning rule)</p>"
    )
    charts = [legend]
    for currency, days in daily.items():
        chart = bar_chart(currency, days)
        charts.append(f'<div class="card"><b>{escape(currency)}</b>{chart}</div>')
    return "\n".join(charts)


def bar_chart(currency: str, days: dict[str, list[int]], *, width: int = 1040) -> str:
    """Inline SVG: one pair of bars per day, earning above the axis and reversals below."""
    height, top, bottom, left = 260, 16, 44, 84
    plot_w = width - left - 12
    plot_h = height - top - bottom
    peak_up = max((v[0] for v in days.values()), default=0)
    peak_down = max((v[1] for v in days.values()), default=0)
    scale = plot_h / max(peak_up + peak_down, 1)
    axis_y = top + peak_up * scale
    count = len(days)
    slot = plot_w / max(count, 1)
    bar = max(min(slot * 0.7, 48), 2)
    unit = 10 ** currency_digits(currency)
    label_every = max(1, count // 12)
    shapes = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="100%" '
        f'viewBox="0 0 {width} {height}" aria-label="{escape(currency)} sent to Yotpo per day">',
        f'<line x1="{left}" y1="{axis_y:.1f}" x2="{width - 12}" y2="{axis_y:.1f}" '
        'stroke="#9aa4ae"/>',
        f'<text x="{left - 8}" y="{top + 10}" text-anchor="end" font-size="12" fill="#5b6570">'
        f"{escape(_short(peak_up, unit))}</text>",
    ]
    if peak_down:
        shapes.append(
            f'<text x="{left - 8}" y="{height - bottom}" text-anchor="end" font-size="12" '
            f'fill="#5b6570">-{escape(_short(peak_down, unit))}</text>'
        )
    for index, (day, (up, down)) in enumerate(days.items()):
        x = left + index * slot + (slot - bar) / 2
        title = (
            f"{day}: earning {format_minor(up, currency)}, reversed {format_minor(down, currency)}"
        )
        shapes.append(f"<g><title>{escape(title)}</title>")
        if up:
            h = up * scale
            shapes.append(
                f'<rect x="{x:.1f}" y="{axis_y - h:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                f'fill="{_EARNED}"/>'
            )
        if down:
            h = down * scale
            shapes.append(
                f'<rect x="{x:.1f}" y="{axis_y:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                f'fill="{_REVERSED}"/>'
            )
        shapes.append("</g>")
        if index % label_every == 0:
            shapes.append(
                f'<text x="{x + bar / 2:.1f}" y="{height - 18}" text-anchor="middle" '
                f'font-size="11" fill="#5b6570">{escape(day[5:])}</text>'
            )
    shapes.append("</svg>")
    return "".join(shapes)


def _short(amount: int, unit: int) -> str:
    value = amount / unit  # display only: amounts stay integers everywhere else
    if value >= 1_000_000:
        return f"{value / 1_000_000:.1f}M"
    if value >= 10_000:
        return f"{value / 1000:.0f}k"
    return f"{value:,.0f}" if value >= 100 else f"{value:,.2f}"


def _table(headers: list[str], rows: list[list[tuple[str, str]]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f'<td class="{cls}">{escape(text)}</td>' for cls, text in row) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _mismatches(report: AuditReport) -> str:
    if not report.mismatches:
        return '<p class="muted">None: every order\'s ledger matches what it deserves.</p>'
    rows = [
        [
            ("", entry.name),
            ("", entry.created_at[:10]),
            ("num", format_minor(entry.earned_cents, entry.currency)),
            ("num", format_minor(entry.refunded_cents, entry.currency)),
            ("reason", "\n".join(entry.issues)),
        ]
        for entry in report.mismatches
    ]
    return _table(["order", "created", "earning", "reversed", "what is wrong"], rows)


def _stuck(report: AuditReport) -> str:
    lines = []
    if report.stuck_error:
        lines.append(f"<p>The check for stuck orders failed: {escape(report.stuck_error)}</p>")
    if not report.stuck:
        lines.append('<p class="muted">None: no operation outlived its claim.</p>')
        return "".join(lines)
    rows: list[list[tuple[str, str]]] = [
        [
            ("", str(s.get("order"))),
            ("", str(s.get("since"))),
            ("", ", ".join(str(o) for o in s.get("operations") or [])),
            ("", str(s.get("result"))),
            ("reason", str(s.get("detail") or "")),
        ]
        for s in report.stuck
    ]
    lines.append(_table(["order", "pending since", "operations", "result", "detail"], rows))
    return "".join(lines)


def _refused(report: AuditReport) -> str:
    if not report.refused_cancellations:
        return '<p class="muted">None.</p>'
    rows: list[list[tuple[str, str]]] = [
        [
            ("", str(r.get("code"))),
            ("", str(r.get("order"))),
            ("", str(r.get("requested_at") or "")),
            ("reason", str(r.get("reason") or "")),
        ]
        for r in report.refused_cancellations
    ]
    return _table(["code", "used by order", "requested", "what to do"], rows)


def _consumptions(report: AuditReport) -> str:
    note = (
        f'<p class="muted">Not read: {escape(report.consumptions_error)}</p>'
        if report.consumptions_error
        else ""
    )
    if not report.consumptions:
        return note + '<p class="muted">None.</p>'
    rows: list[list[tuple[str, str]]] = [
        [
            ("", str(c.get("cartId"))),
            ("", str(c.get("redemptionId"))),
            ("", str(c.get("result"))),
        ]
        for c in report.consumptions
    ]
    return note + _table(["cart", "redemption", "result"], rows)


def _counts(report: AuditReport) -> str:
    items: list[Any] = []
    for label, counts in (("skipped", report.skipped), ("blocked", report.blocked)):
        for reason, count in sorted(counts.items()):
            items.append(f"<li>{escape(label)}: {escape(reason)}: {count}</li>")
    if not items:
        return ""
    return "<h2>Not sent by decision</h2><ul>" + "".join(items) + "</ul>"
