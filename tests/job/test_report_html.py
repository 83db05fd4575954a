"""The audit as a page: inline SVG chart, full reasons, everything escaped, nothing external."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta

from job.audit import AuditEntry, AuditReport
from job.report_html import bar_chart, render_html

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def report() -> AuditReport:
    return AuditReport(
        range={"since": "2026-11-01T00:00:00.000Z", "until": None, "store": HOSTILE},
        orders=3,
        earned_cents={"EUR": 15000, "KWD": 27604},
        refunded_cents={"EUR": 2500},
        mismatches=[
            AuditEntry(
                order_id="o-1",
                order_number=HOSTILE,
                created_at="2026-11-02T10:00:00.000Z",
                currency="EUR",
                earned_cents=0,
                refunded_cents=0,
                issues=["paid but never earned", "failed: order:X: 422 " + "y" * 300 + " END"],
            )
        ],
        stuck=[
            {
                "order_id": "o-2",
                "order": "S-2",
                "operations": ["refund:r1"],
                "since": "2026-11-03T00:00:00.000Z",
                "result": "still_pending",
                "detail": "YotpoTransientError: 503",
            }
        ],
        refused_cancellations=[
            {
                "code": "LOY-1&2",
                "order": "R-9",
                "customer_id": None,
                "redemption_id": "7",
                "requested_at": "2026-11-04T00:00:00+00:00",
                "reason": "already used",
            }
        ],
        daily={
            "EUR": {"2026-11-02": [10000, 0], "2026-11-03": [5000, 2500]},
            "KWD": {"2026-11-02": [27604, 0]},
        },
        generated_at="2026-11-05T00:00:00.000Z",
    )


def test_everything_from_outside_is_escaped_and_nothing_is_loaded():
    page = render_html(report())
    assert "<script" not in page and "<img" not in page
    assert "&lt;script&gt;" in page
    assert "y" * 300 + " END" in page  # the reason in full
    assert "LOY-1&amp;2" in page
    # No scripts, no external assets: no src/href, and the only URL is the SVG namespace.
    assert not re.search(r"<[^>]*\b(src|href)\s*=", page)
    assert set(re.findall(r"https?://[^\"' <>)]+", page)) == {"http://www.w3.org/2000/svg"}
    assert "default-src 'none'" in page


def test_one_chart_per_currency_with_a_bar_per_amount():
    page = render_html(report())
    assert page.count("<svg") == 2
    eur = bar_chart("EUR", report().daily["EUR"])
    assert eur.count("<rect") == 3  # two days earning, one day reversed
    assert "2026-11-03: earning 50.00 EUR, reversed 25.00 EUR" in eur
    assert "27.604 KWD" in bar_chart("KWD", report().daily["KWD"])


def test_an_empty_audit_still_renders():
    page = render_html(AuditReport(range={"since": "2026-11-01", "until": None, "store": None}))
    assert "Nothing was sent to Yotpo" in page and "<svg" not in page


def test_the_cli_writes_the_report(scene, tmp_path):
    from job.__main__ import main
    from tests.job.test_backfill_audit import deliver_live, paid_order

    order = paid_order(scene, "HTML-1", "html@example.com")
    deliver_live(scene, order["id"])
    target = tmp_path / "audit.html"
    since = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    out = io.StringIO()
    code = main(
        ["audit", "--since", since, "--html", str(target)],
        settings=scene.settings,
        clients=scene.clients,
        stdout=out,
    )
    assert code == 0 and f"report written to {target}" in out.getvalue()
    page = target.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and page.count("<svg") == 1
    assert "orders audited" in page


def test_rewards_consumed_for_carts_never_ordered_are_listed_escaped():
    audit = report()
    audit.consumptions = [{"cartId": HOSTILE, "redemptionId": "r-9", "result": "orphaned"}]
    page = render_html(audit)
    assert "Rewards consumed for carts never ordered" in page
    assert "r-9" in page and "orphaned" in page
    assert HOSTILE not in page and "&lt;script&gt;" in page
    empty = report()
    empty.consumptions_error = "CommercetoolsError: 503"
    assert "Not read: CommercetoolsError: 503" in render_html(empty)
