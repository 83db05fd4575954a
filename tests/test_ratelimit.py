from __future__ import annotations

import math
import threading
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.errors import YotpoTransientError
from shared.ratelimit import (
    RateBudgetExhausted,
    RateLimiter,
    YotpoRateShareSettings,
    default_burst,
    process_rate,
    rate_sharers,
    worker_count,
)


class FakeTime:
    """A clock that only moves when someone sleeps (or the test advances it)."""

    def __init__(self, start: float = 100.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds


def grant_times(limiter: RateLimiter, fake: FakeTime, count: int) -> list[float]:
    times = []
    for _ in range(count):
        limiter.acquire()
        times.append(fake.now)
    return times


def most_in_any_window(times: list[float], window: float) -> int:
    """The largest number of grants inside any half-open window [t, t + window)."""
    return max(sum(1 for u in times if t <= u < t + window - 1e-9) for t in times)


@pytest.mark.parametrize("rate", [4.0, 5.0, 10.0])
def test_the_default_burst_is_one_seconds_worth_and_no_second_ever_holds_more(rate):
    fake = FakeTime(start=0.0)
    limiter = RateLimiter(rate, clock=fake.clock, sleep=fake.sleep)

    times = grant_times(limiter, fake, 25)

    burst = int(rate)
    assert limiter.burst == burst
    assert times[:burst] == [0.0] * burst  # after idle time the burst goes out at once
    assert most_in_any_window(times, 1.0) <= rate  # Yotpo's per-second limit holds
    # ...and the limiter does not wait longer than it must: the long-run rate is `rate`.
    assert times[-1] == pytest.approx(math.floor((25 - 1) / burst) * burst / rate)


def test_a_burst_of_one_spaces_calls_evenly():
    fake = FakeTime()
    limiter = RateLimiter(2.0, burst=1, clock=fake.clock, sleep=fake.sleep)

    times = grant_times(limiter, fake, 4)

    assert times == [100.0, pytest.approx(100.5), pytest.approx(101.0), pytest.approx(101.5)]


def test_a_smaller_burst_shortens_the_window_and_keeps_the_rate():
    fake = FakeTime()
    limiter = RateLimiter(10.0, burst=2, clock=fake.clock, sleep=fake.sleep)

    times = grant_times(limiter, fake, 6)

    assert limiter.window_seconds == pytest.approx(0.2)
    assert times == [100.0, 100.0, *[pytest.approx(t) for t in (100.2, 100.2, 100.4, 100.4)]]


def test_a_fractional_share_keeps_its_long_run_rate_and_its_rounded_up_second():
    fake = FakeTime(start=0.0)
    limiter = RateLimiter(2.5, clock=fake.clock, sleep=fake.sleep)

    times = grant_times(limiter, fake, 31)

    assert (limiter.burst, limiter.window_seconds) == (3, pytest.approx(1.2))
    assert most_in_any_window(times, 1.0) <= 3
    assert times[-1] == pytest.approx(12.0)  # 30 grants after the first burst at 2.5/s


def test_rates_below_one_per_second_still_grant_one_at_a_time():
    fake = FakeTime()
    limiter = RateLimiter(0.5, clock=fake.clock, sleep=fake.sleep)

    times = grant_times(limiter, fake, 3)

    assert default_burst(0.5) == 1
    assert times == [100.0, pytest.approx(102.0), pytest.approx(104.0)]


def test_idle_time_never_banks_more_than_one_burst():
    fake = FakeTime()
    limiter = RateLimiter(2.0, clock=fake.clock, sleep=fake.sleep)
    grant_times(limiter, fake, 2)
    fake.now += 60  # a long pause must not bank 120 grants

    times = grant_times(limiter, fake, 3)

    assert times[0] == times[1] == 160.0
    assert times[2] == pytest.approx(161.0)


def test_deadline_too_close_raises_without_sleeping():
    fake = FakeTime()
    limiter = RateLimiter(5.0, burst=1, clock=fake.clock, sleep=fake.sleep)
    limiter.acquire()  # the one grant of this window; the next comes 0.2 s later

    with pytest.raises(YotpoTransientError, match="rate limit budget exhausted"):
        limiter.acquire(deadline=fake.now + 0.1)
    assert fake.sleeps == []


def test_deadline_far_enough_waits_for_the_grant():
    fake = FakeTime()
    limiter = RateLimiter(5.0, burst=1, clock=fake.clock, sleep=fake.sleep)
    limiter.acquire()

    limiter.acquire(deadline=fake.now + 0.25)

    assert fake.sleeps == [pytest.approx(0.2)]
    assert fake.now <= 100.25


def test_deadline_in_the_past_still_serves_an_available_grant():
    fake = FakeTime()
    limiter = RateLimiter(5.0, clock=fake.clock, sleep=fake.sleep)

    limiter.acquire(deadline=fake.now)

    assert fake.sleeps == []


def test_pause_holds_every_caller_until_the_given_time():
    fake = FakeTime()
    limiter = RateLimiter(5.0, clock=fake.clock, sleep=fake.sleep)
    limiter.pause_until(fake.now + 2.0)
    assert limiter.paused_until == pytest.approx(102.0)

    with pytest.raises(YotpoTransientError):
        limiter.acquire(deadline=fake.now + 1.0)
    assert fake.sleeps == []

    limiter.acquire()
    assert fake.now == pytest.approx(102.0)
    assert limiter.paused_until is None


def test_an_earlier_pause_does_not_shorten_a_later_one():
    fake = FakeTime()
    limiter = RateLimiter(5.0, clock=fake.clock, sleep=fake.sleep)
    limiter.pause_until(fake.now + 3.0)
    limiter.pause_until(fake.now + 1.0)

    limiter.acquire()

    assert fake.now == pytest.approx(103.0)


# --- the server's count (ratelimit-remaining / ratelimit-reset) ----------------------------


def test_a_server_count_of_zero_holds_callers_until_its_reset():
    fake = FakeTime()
    limiter = RateLimiter(10.0, clock=fake.clock, sleep=fake.sleep)
    limiter.acquire()
    limiter.observe(remaining=0, reset_seconds=0.7)  # other processes used the account

    limiter.acquire()

    assert fake.now == pytest.approx(100.7)


def test_the_server_count_allows_what_it_says_then_waits_for_the_reset():
    fake = FakeTime()
    limiter = RateLimiter(10.0, clock=fake.clock, sleep=fake.sleep)
    limiter.observe(remaining=2, reset_seconds=1.0)

    times = grant_times(limiter, fake, 3)

    assert times == [100.0, 100.0, pytest.approx(101.0)]


def test_a_late_answer_with_a_higher_count_does_not_raise_the_budget():
    fake = FakeTime()
    limiter = RateLimiter(10.0, clock=fake.clock, sleep=fake.sleep)
    limiter.observe(remaining=0, reset_seconds=1.0)
    limiter.observe(remaining=8, reset_seconds=1.0)  # sent earlier, arrived later

    limiter.acquire()

    assert fake.now == pytest.approx(101.0)


def test_an_expired_server_count_is_forgotten():
    fake = FakeTime()
    limiter = RateLimiter(10.0, clock=fake.clock, sleep=fake.sleep)
    limiter.observe(remaining=0, reset_seconds=1.0)
    fake.now += 5

    limiter.acquire()

    assert fake.sleeps == []


@pytest.mark.parametrize(("remaining", "reset"), [(-1, 1.0), (0, -1.0), (0, math.inf)])
def test_nonsense_server_counts_are_ignored(remaining, reset):
    fake = FakeTime()
    limiter = RateLimiter(10.0, clock=fake.clock, sleep=fake.sleep)
    limiter.observe(remaining=remaining, reset_seconds=reset)

    limiter.acquire()

    assert fake.sleeps == []


# --- threads and configuration -------------------------------------------------------------


def test_concurrent_callers_never_get_more_than_one_window_holds():
    frozen = 50.0
    limiter = RateLimiter(40.0, clock=lambda: frozen, sleep=_refuse_to_wait)
    granted = Counter[str]()
    lock = threading.Lock()
    start = threading.Barrier(8)

    def worker() -> None:
        start.wait()
        for _ in range(10):
            try:
                limiter.acquire()
                outcome = "granted"
            except _WouldWait:
                outcome = "waited"
            with lock:
                granted[outcome] += 1

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert granted == {"granted": 40, "waited": 40}


class _WouldWait(Exception):
    pass


def _refuse_to_wait(seconds: float) -> None:
    raise _WouldWait


@pytest.mark.parametrize(
    "kwargs",
    [
        {"rate_per_second": 0},
        {"rate_per_second": -1},
        {"rate_per_second": math.inf},
        {"rate_per_second": 5, "burst": 0},
    ],
)
def test_nonsense_configuration_is_refused(kwargs):
    with pytest.raises(ValueError):
        RateLimiter(**kwargs)


@settings(max_examples=60, deadline=None)
@given(
    rate=st.floats(min_value=0.5, max_value=50),
    burst=st.one_of(st.none(), st.integers(min_value=1, max_value=12)),
    gaps=st.lists(st.floats(min_value=0, max_value=2), min_size=1, max_size=40),
)
def test_no_window_ever_holds_more_than_the_burst(rate, burst, gaps):
    fake = FakeTime(start=0.0)
    limiter = RateLimiter(rate, burst=burst, clock=fake.clock, sleep=fake.sleep)
    times = []
    for gap in gaps:
        fake.now += gap  # callers arrive at arbitrary moments
        limiter.acquire()
        times.append(fake.now)

    assert most_in_any_window(times, limiter.window_seconds) <= limiter.burst
    if burst is None:  # the default never exceeds the per-second rate (rounded up) in a second
        assert most_in_any_window(times, 1.0) <= max(1, math.ceil(rate - 1e-9))
        assert limiter.window_seconds >= 1.0 - 1e-9 or rate < 1


# --- the account's rate, shared by the processes that spend it -----------------------------


def test_each_process_runs_at_its_share_of_the_account():
    assert process_rate(10.0, 2) == 5.0
    assert process_rate(10.0, 1) == 10.0
    assert process_rate(10.0, 0) == 10.0  # nonsense counts as alone, never as zero


class _Shared:
    def __init__(self, sharers: int | None) -> None:
        self.yotpo_rate_sharers = sharers


@pytest.mark.parametrize(
    ("configured", "env", "expected"),
    [
        (None, {}, 1),
        (None, {"WEB_CONCURRENCY": "3"}, 3),
        (None, {"WEB_CONCURRENCY": "x"}, 1),
        (None, {"WEB_CONCURRENCY": "0"}, 1),
        (6, {"WEB_CONCURRENCY": "3"}, 6),  # workers x instances, said outright
    ],
)
def test_the_sharers_come_from_the_setting_else_the_gunicorn_workers(configured, env, expected):
    assert rate_sharers(_Shared(configured), env) == expected


def test_the_workers_are_what_the_gunicorn_config_exports():
    assert worker_count({"WEB_CONCURRENCY": " 4 "}) == 4
    assert worker_count({}) == 1


def test_the_setting_refuses_nonsense():
    assert YotpoRateShareSettings.model_validate({"yotpo_rate_sharers": 4}).yotpo_rate_sharers == 4
    with pytest.raises(ValueError):
        YotpoRateShareSettings.model_validate({"yotpo_rate_sharers": 0})


def test_processes_at_their_share_never_exceed_the_account_together():
    # Two workers, each busy all the time at half of 10/s: no second holds more than 10.
    fake = FakeTime()
    limiters = [RateLimiter(process_rate(10.0, 2), clock=fake.clock, sleep=fake.sleep)]
    limiters.append(RateLimiter(process_rate(10.0, 2), clock=fake.clock, sleep=fake.sleep))
    times: list[float] = []
    for _ in range(60):
        for limiter in limiters:
            before = fake.now
            limiter.acquire()
            times.append(fake.now)
            assert fake.now >= before
    times.sort()
    assert most_in_any_window(times, 1.0) <= 10
    # ... and together they use the whole bound.
    assert len(times) / (times[-1] - times[0] + 0.1) == pytest.approx(10.0, rel=0.1)


def test_a_guard_widens_every_window_and_never_raises_the_rate():
    fake = FakeTime()
    limiter = RateLimiter(5.0, clock=fake.clock, sleep=fake.sleep, guard_seconds=0.02)
    times = grant_times(limiter, fake, 25)
    assert limiter.window_seconds == pytest.approx(1.02)
    assert most_in_any_window(times, 1.02) <= 5
    assert times[-1] - times[0] == pytest.approx(4 * 1.02)
    with pytest.raises(ValueError):
        RateLimiter(5.0, guard_seconds=1.5)


def test_an_exhausted_budget_says_when_the_next_grant_comes():
    fake = FakeTime()
    limiter = RateLimiter(1.0, clock=fake.clock, sleep=fake.sleep)
    limiter.acquire()
    with pytest.raises(RateBudgetExhausted) as raised:
        limiter.acquire(deadline=fake.now + 0.5)
    assert raised.value.ready_in == pytest.approx(1.0)
    assert isinstance(raised.value, YotpoTransientError)
