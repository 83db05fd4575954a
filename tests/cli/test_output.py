"""Output for people: progress bar, tables that keep every character, logs off stdout."""

from __future__ import annotations

import io
import logging

from shared.cli.logs import cli_log_level
from shared.cli.progress import ProgressBar, duration
from shared.cli.table import render_table


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_bar_shows_count_rate_and_eta_on_a_terminal_only():
    ticks = iter(float(n) for n in range(100))
    terminal = Terminal()
    bar = ProgressBar(10, stream=terminal, clock=lambda: next(ticks), every_seconds=0)
    for _ in range(4):
        bar.step()
    bar.finish()
    shown = terminal.getvalue()
    assert "\r" in shown and shown.endswith("\n")
    last = shown.rstrip("\n").split("\r")[-1]
    assert "4/10 orders" in last and "/s" in last and "ETA" in last
    assert "[" + "#" * 9 in last  # 4 of 10 → 9 of 24 cells filled
    piped = io.StringIO()
    quiet = ProgressBar(10, stream=piped)
    quiet.step()
    quiet.finish()
    assert piped.getvalue() == ""


def test_a_resumed_run_rates_only_its_own_work():
    clock = iter([0.0, 10.0, 10.0, 10.0])
    bar = ProgressBar(1000, stream=io.StringIO(), clock=lambda: next(clock), enabled=False)
    bar.step(500)  # where the cursor stood
    bar.step(520)
    assert bar.rate() == 2.0


def test_durations_read_like_people_say_them():
    assert [duration(s) for s in (5, 187, 7500)] == ["5s", "3m07s", "2h05m"]


def test_tables_wrap_the_last_column_and_never_cut_it():
    reason = "YotpoPermanentError: Yotpo POST /orders answered 422: " + "x" * 150 + " END"
    text = render_table(("order", "reason"), [("A-1", reason), ("B-22", "short")], width=80)
    lines = text.splitlines()
    assert lines[0].startswith("order") and set(lines[1]) == {"-"}
    assert all(len(line) <= 80 for line in lines)
    assert "".join(line[6:].strip() for line in lines[2:-1]).replace(" ", "") == reason.replace(
        " ", ""
    )
    assert lines[-1].startswith("B-22")


def test_logs_at_a_terminal_are_warnings_unless_log_level_is_set(monkeypatch):
    monkeypatch.delenv("LOG_LEVEL", raising=False)
    assert cli_log_level("INFO", stream=Terminal()) == logging.getLevelName(logging.WARNING)
    assert cli_log_level("INFO", stream=io.StringIO()) == "INFO"  # a file or Cloud Logging
    monkeypatch.setenv("LOG_LEVEL", "DEBUG")
    assert cli_log_level("DEBUG", stream=Terminal()) == "DEBUG"
