"""How many nights full coverage takes, and the nightly run saying so in its log."""

from __future__ import annotations

import logging

import pytest

from job.nightly import NightlyJob, nights_for_full_coverage


@pytest.mark.parametrize(
    ("customers", "budget", "rate", "nights", "expected"),
    [
        (10_000, 1500, 5, 7, 7),  # 1,429 a night fits in 7,500 calls
        (100_000, 1500, 5, 7, 14),  # 14,286 a night do not: 7,500 a night, 14 nights
        (100_000, 1500, 10, 7, 7),
        (3, 1500, 5, 7, 3),  # fewer customers than nights: one a night
        (0, 1500, 5, 7, 1),
    ],
)
def test_nights_for_full_coverage(customers, budget, rate, nights, expected):
    assert (
        nights_for_full_coverage(
            customers, budget_seconds=budget, rate_per_second=rate, coverage_nights=nights
        )
        == expected
    )


def test_the_nightly_run_logs_its_coverage(scene, caplog):
    nightly = scene.with_env(
        NIGHTLY_COVERAGE_NIGHTS="2",
        YOTPO_RATE_LIMIT_PER_SECOND="2",
        JOB_RATE_SHARE="0.5",
    )
    nightly.install()
    for n in range(4):
        nightly.member(f"cov{n}@example.com", 10)
    with caplog.at_level(logging.INFO):
        summary = NightlyJob(nightly.settings, nightly.clients).run(budget_seconds=1.5)
    lines = [getattr(r, "json_fields", {}) for r in caplog.records]
    (coverage,) = [f for f in lines if f.get("event") == "job.nightly.coverage"]
    # 1 call/s for 1.5 s holds 1 customer a run; the slice is 2: four nights, not two.
    assert coverage["customers"] == 4 and coverage["slice"] == 2
    assert coverage["capacity_per_run"] == 1 and coverage["nights_for_full_coverage"] == 4
    assert summary.nights_for_full_coverage == 4
    (risk,) = [f for f in lines if f.get("event") == "job.nightly.coverage_at_risk"]
    assert "4 nights, not 2" in risk["detail"]
