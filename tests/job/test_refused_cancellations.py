"""The audit says when Yotpo's cancellation request could not be honoured (the code was used)."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

from job.__main__ import main
from job.audit import audit
from job.cancellations import container, parse_record
from job.orders import OrderRange
from service.cancellations import CancellationRefusals

SINCE = datetime.now(UTC) - timedelta(days=1)


def test_records_of_the_range_are_listed_and_make_the_audit_unclean(scene):
    ct = scene.world.ct
    now = datetime.now(UTC)
    # Written by the webhook receiver when an order had already used the code.
    CancellationRefusals(ct).record(
        "LOY-000009",
        redemption_id=12,
        customer_id="c-1",
        order_id="o-77",
        order_number="R-77",
        reason="used_by_order",
    )
    old = (now - timedelta(days=30)).isoformat()
    ct.put_custom_object(
        container(),
        "LOY-OLD",
        {"code": "LOY-OLD", "orderId": "o-9", "requestedAt": old},
        version=None,
    )

    report = audit(scene.settings, scene.clients, OrderRange(since=SINCE))
    assert [(r["code"], r["order"]) for r in report.refused_cancellations] == [
        ("LOY-000009", "R-77")
    ]
    assert "settle the points by hand" in report.refused_cancellations[0]["reason"]
    assert not report.clean
    out = io.StringIO()
    code = main(
        ["audit", "--since", SINCE.date().isoformat()],
        settings=scene.settings,
        clients=scene.clients,
        stdout=out,
    )
    text = out.getvalue()
    assert code == 1
    assert "Yotpo cancellations not honoured" in text and "LOY-000009" in text and "R-77" in text
    assert "LOY-OLD" not in text  # requested before the range


def test_either_spelling_of_the_record_is_read():
    snake = parse_record({"code": "A", "order_id": "o-1", "requested_at": "2026-11-01T00:00:00Z"})
    camel = parse_record({"code": "A", "orderId": "o-1", "requestedAt": "2026-11-01T00:00:00Z"})
    assert snake == camel and snake is not None and snake.order == "o-1"
    assert parse_record({"orderId": "o-1"}) is None  # no code: not a record of this kind
    refused = parse_record({"code": "B", "orderId": "o-2", "reason": "yotpo_refused:409"})
    assert refused is not None and "HTTP 409" in refused.reason
