"""The checkout bench's split of a redemption's time, from the service app's log lines."""

from __future__ import annotations

import json
from pathlib import Path

from bench.redemption_timing import percentile, split_from_logs


def _line(correlation: str, event: str, **fields: object) -> str:
    return json.dumps({"event": event, "correlation_id": correlation, **fields})


def test_the_split_takes_the_slower_concurrent_read_then_the_write(tmp_path: Path) -> None:
    log = tmp_path / "service.log"
    log.write_text(
        "\n".join(
            [
                "[2026-12-01 23:00:00] gunicorn booting",  # not JSON: skipped
                _line("a", "http.call", service="yotpo", method="GET", duration_ms=101.0),
                _line("a", "http.call", service="yotpo", method="GET", duration_ms=104.0),
                _line("a", "http.call", service="commercetools", method="GET", duration_ms=9.0),
                _line("a", "http.call", service="yotpo", method="POST", duration_ms=102.0),
                _line("a", "http.request", duration_ms=210.0),
                _line("other", "http.request", duration_ms=5.0),  # not one of the bench's
            ]
        )
    )
    split = split_from_logs(log, {"a": 215.0, "missing": 300.0}, wait=0)
    assert split.yotpo == [206.0]  # max(101, 104) + 102
    assert split.inside == [4.0]  # 210 - 206
    assert split.outside == [5.0]  # 215 - 210
    # A call whose request line is missing is left out, not counted as zero.
    assert len(split.outside) == 1


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile([7.0], 99) == 7.0
    assert percentile([], 99) == 0.0
