"""Operator commands of the event app.

python -m event replay [--dry-run]   re-run dead letters after fixing their cause
"""

from __future__ import annotations

import argparse
import sys

from event.processor import EventProcessor
from event.replay import replay
from event.settings import EventSettings
from shared.boot import load_or_exit
from shared.runtime import build_runtime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m event")
    commands = parser.add_subparsers(dest="command", required=True)
    replay_cmd = commands.add_parser("replay", help="re-run dead letters")
    replay_cmd.add_argument("--dry-run", action="store_true", help="only list them")
    args = parser.parse_args(argv)

    settings = load_or_exit("event", EventSettings)
    processor = EventProcessor(settings, build_runtime(settings))
    report = replay(processor, dry_run=args.dry_run)
    for message_id, error in report.listed:
        print(f"dead letter {message_id}: {error}")
    for message_id in report.replayed:
        print(f"replayed {message_id}")
    for message_id, detail in report.still_failing:
        print(f"still failing {message_id}: {detail}", file=sys.stderr)
    if args.dry_run:
        print(f"{len(report.listed)} dead letter(s)")
    return 1 if report.still_failing else 0


if __name__ == "__main__":
    raise SystemExit(main())
