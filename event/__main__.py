"""Operator commands of the event app.

python -m event replay [--dry-run]   re-run dead letters after fixing their cause
python -m event pull --subscription projects/P/subscriptions/S [--max-messages N]
                                      consume notifications from a pull subscription
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType

from event.processor import EventProcessor
from event.pull import DEFAULT_MAX_MESSAGES, SUBSCRIPTION_PATH, Puller
from event.replay import replay
from event.settings import EventSettings
from shared.boot import load_or_exit
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


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    settings = load_or_exit("event", EventSettings)
    processor = EventProcessor(settings, build_runtime(settings))
    if args.command == "pull":
        return _pull(processor, args.subscription, args.max_messages)
    return _replay(processor, dry_run=args.dry_run)


def _pull(processor: EventProcessor, subscription: str, max_messages: int) -> int:
    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()  # the pull loop logs and shuts down; nothing else is safe in a handler

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    return Puller(processor, subscription, max_messages=max_messages).run(stop)


def _replay(processor: EventProcessor, *, dry_run: bool) -> int:
    report = replay(processor, dry_run=dry_run)
    for message_id, error in report.listed:
        print(f"dead letter {message_id}: {error}")
    for message_id in report.replayed:
        print(f"replayed {message_id}")
    for message_id, detail in report.still_failing:
        print(f"still failing {message_id}: {detail}", file=sys.stderr)
    if dry_run:
        print(f"{len(report.listed)} dead letter(s)")
    return 1 if report.still_failing else 0


if __name__ == "__main__":
    raise SystemExit(main())
