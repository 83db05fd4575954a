"""Operator commands of the event app.

python -m event replay [--dry-run] [--json]
                                      re-run dead letters after fixing their cause (those of
                                      live messages and the orders the job dead-lettered)
python -m event pull --subscription projects/P/subscriptions/S [--max-messages N]
                                      consume notifications from a pull subscription
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from types import FrameType
from typing import TextIO

from event.processor import EventProcessor
from event.pull import DEFAULT_MAX_MESSAGES, SUBSCRIPTION_PATH, Puller
from event.replay import ReplayReport, replay
from event.settings import EventSettings
from shared.boot import load_or_exit
from shared.cli.logs import configure_cli_logging
from shared.cli.progress import ProgressBar
from shared.cli.table import render_table
from shared.runtime import build_runtime


def _subscription(value: str) -> str:
    if not SUBSCRIPTION_PATH.match(value):
        raise argparse.ArgumentTypeError("expected projects/<project>/subscriptions/<name>")
    return value


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError("must be a whole number of at least 1")
    return number


def parser() -> argparse.ArgumentParser:
    main_parser = argparse.ArgumentParser(prog="python -m event")
    commands = main_parser.add_subparsers(dest="command", required=True)
    replay_cmd = commands.add_parser("replay", help="re-run dead letters")
    replay_cmd.add_argument("--dry-run", action="store_true", help="only list them")
    replay_cmd.add_argument("--json", action="store_true", help="JSON instead of tables")
    pull_cmd = commands.add_parser("pull", help="consume a Pub/Sub pull subscription")
    pull_cmd.add_argument(
        "--subscription",
        required=True,
        type=_subscription,
        help="projects/<project>/subscriptions/<name>",
    )
    pull_cmd.add_argument(
        "--max-messages",
        type=_positive,
        default=DEFAULT_MAX_MESSAGES,
        help=f"messages leased and processed at once (default {DEFAULT_MAX_MESSAGES})",
    )
    return main_parser


def main(argv: list[str] | None = None, *, stdout: TextIO | None = None) -> int:
    args = parser().parse_args(argv)
    settings = load_or_exit("event", EventSettings)
    if args.command == "replay":
        # An operator's terminal: results on stdout, the JSON log lines on stderr. (The pull
        # consumer keeps the app's stdout logging, which is what Cloud Logging reads.)
        configure_cli_logging(
            "event", secrets=settings.secret_values(), level=settings.log_level, stream=sys.stderr
        )
    processor = EventProcessor(settings, build_runtime(settings))
    if args.command == "pull":
        return _pull(processor, args.subscription, args.max_messages)
    return _replay(processor, dry_run=args.dry_run, as_json=args.json, out=stdout or sys.stdout)


def _pull(processor: EventProcessor, subscription: str, max_messages: int) -> int:
    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()  # the pull loop logs and shuts down; nothing else is safe in a handler

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    return Puller(processor, subscription, max_messages=max_messages).run(stop)


def _replay(processor: EventProcessor, *, dry_run: bool, as_json: bool, out: TextIO) -> int:
    bar = None if as_json else (lambda total: ProgressBar(total, unit="dead letters", stream=out))
    report = replay(processor, dry_run=dry_run, progress=bar)
    print(report_json(report) if as_json else report_text(report, dry_run=dry_run), file=out)
    return 1 if report.still_failing else 0


def report_json(report: ReplayReport) -> str:
    return json.dumps(
        {
            "listed": [
                {**vars(item), "last_seen": item.last_seen.isoformat()} for item in report.listed
            ],
            "replayed": report.replayed,
            "still_failing": [{"message_id": m, "error": e} for m, e in report.still_failing],
        },
        indent=2,
    )


def report_text(report: ReplayReport, *, dry_run: bool) -> str:
    if dry_run:
        if not report.listed:
            return "no dead letters"
        rows = [
            (
                item.message_id,
                item.source,
                item.subject,
                f"{item.failure}, {item.attempts}x",
                item.last_seen.strftime("%Y-%m-%d %H:%M"),
                item.error,
            )
            for item in report.listed
        ]
        table = render_table(
            ("dead letter", "from", "about", "failure", "last seen", "error"), rows
        )
        return (
            f"{table}\n\n{len(report.listed)} dead letter(s); after fixing the cause, "
            "`python -m event replay` sends each once"
        )
    rows = [(message_id, "replayed", "") for message_id in report.replayed]
    rows += [(message_id, "still failing", error) for message_id, error in report.still_failing]
    if not rows:
        return "no dead letters"
    summary = f"{len(report.replayed)} replayed, {len(report.still_failing)} still failing"
    return f"{render_table(('dead letter', 'result', 'error'), rows)}\n\n{summary}"


if __name__ == "__main__":
    raise SystemExit(main())
