from __future__ import annotations

import math
import threading
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.errors import YotpoTransientError
from shared.ratelimit import RateLimiter


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


@pytest.mark.parametrize("rate", [4.0, 5.0, 10.0])
def test_a_burst_of_20_never_exceeds_the_rate_in_any_simulated_second(rate):
    fake = FakeTime(start=0.0)
    limiter = RateLimiter(rate, clock=fake.clock, sleep=fake.sleep)

    times = grant_times(limiter, fake, 20)

    per_second = Counter(math.floor(t + 1e-6) for t in times)
    assert max(per_second.values()) <= rate
    # Sliding windows too: any `rate + 1` consecutive grants span at least one second.
    window = int(rate)
    assert all(times[i + window] - times[i] >= 1 - 1e-6 for i in range(len(times) - window))
    # ...and the limiter does not wait longer than it must.
    assert times[-1] == pytest.approx(19 / rate)


def test_a_larger_burst_is_served_at_once_then_spaced_at_the_rate():
    fake = FakeTime()
    limiter = RateLimiter(2.0, burst=3, clock=fake.clock, sleep=fake.sleep)

    times = grant_times(limiter, fake, 5)

    assert times[:3] == [100.0, 100.0, 100.0]
    assert times[3] == pytest.approx(100.5)
    assert times[4] == pytest.approx(101.0)


def test_idle_time_refills_up_to_the_burst_only():
    fake = FakeTime()
    limiter = RateLimiter(1.0, burst=2, clock=fake.clock, sleep=fake.sleep)
    grant_times(limiter, fake, 2)
    fake.now += 60  # a long pause must not bank 60 tokens

    times = grant_times(limiter, fake, 3)

    assert times[0] == times[1] == 160.0
    assert times[2] == pytest.approx(161.0)


def test_deadline_too_close_raises_without_sleeping():
    fake = FakeTime()
    limiter = RateLimiter(5.0, clock=fake.clock, sleep=fake.sleep)
    limiter.acquire()  # the one token; the next comes 0.2 s later

    with pytest.raises(YotpoTransientError, match="rate limit budget exhausted"):
        limiter.acquire(deadline=fake.now + 0.1)
    assert fake.sleeps == []


def test_deadline_far_enough_waits_for_the_token():
    fake = FakeTime()
    limiter = RateLimiter(5.0, clock=fake.clock, sleep=fake.sleep)
    limiter.acquire()

    limiter.acquire(deadline=fake.now + 0.25)

    assert fake.sleeps == [pytest.approx(0.2)]
    assert fake.now <= 100.25


def test_deadline_in_the_past_still_serves_an_available_token():
    fake = FakeTime()
    limiter = RateLimiter(5.0, clock=fake.clock, sleep=fake.sleep)

    limiter.acquire(deadline=fake.now)

    assert fake.sleeps == []


def test_pause_holds_every_caller_until_the_given_time():
    fake = FakeTime()
    limiter = RateLimiter(5.0, burst=5, clock=fake.clock, sleep=fake.sleep)
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


def test_concurrent_callers_never_get_more_tokens_than_the_bucket_holds():
    frozen = 50.0
    limiter = RateLimiter(1.0, burst=40, clock=lambda: frozen, sleep=_refuse_to_wait)
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
    "kwargs", [{"rate_per_second": 0}, {"rate_per_second": -1}, {"rate_per_second": 5, "burst": 0}]
)
def test_nonsense_configuration_is_refused(kwargs):
    with pytest.raises(ValueError):
        RateLimiter(**kwargs)


@settings(max_examples=60, deadline=None)
@given(
    rate=st.floats(min_value=0.5, max_value=50),
    burst=st.integers(min_value=1, max_value=5),
    gaps=st.lists(st.floats(min_value=0, max_value=2), min_size=1, max_size=40),
)
def test_no_interval_ever_holds_more_grants_than_burst_plus_refill(rate, burst, gaps):
    fake = FakeTime(start=0.0)
    limiter = RateLimiter(rate, burst=burst, clock=fake.clock, sleep=fake.sleep)
    times = []
    for gap in gaps:
        fake.now += gap  # callers arrive at arbitrary moments
        limiter.acquire()
        times.append(fake.now)

    for i in range(len(times)):
        for j in range(i, len(times)):
            granted = j - i + 1
            assert granted <= burst + rate * (times[j] - times[i]) + 1e-6
