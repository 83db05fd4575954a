"""Operator commands of the job app.

python -m job reconcile [--budget SECONDS]
    the nightly reconciliation now (write-back of balances and tiers); resumable
python -m job backfill --since DATE [--until DATE] [--store KEY] [--dry-run] [--restart]
        [--budget SECONDS]
    historical orders and their refunds through the live reconciler; resumable per range;
    exit code 0 when done without failures, 3 when the budget ran out (run it again), else 1
python -m job audit --since DATE [--until DATE] [--store KEY] [--json]
    orders whose ledger disagrees with commercetools; exit code 1 if any
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import TextIO

from job.audit import audit, render_table
from job.backfill import Backfill
from job.clients import JobClients, build_job_clients
from job.orders import OrderRange, parse_moment
from job.reconcile import NightlyReconciler
from job.settings import JobSettings
from shared.boot import load_or_exit
from shared.logs import configure_logging

_OK_OUTCOMES = {"complete", "budget_exhausted", "already_complete", "planned"}


def _moment(text: str):  # argparse type
    try:
        return parse_moment(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m job", description=__doc__.split("\n")[0])
    commands = root.add_subparsers(dest="command", required=True)

    reconcile = commands.add_parser("reconcile", help="run the nightly reconciliation now")
    reconcile.add_argument(
        "--budget", type=float, help="seconds (default RECONCILE_BUDGET_SECONDS)"
    )

    def ranged(name: str, help_text: str) -> argparse.ArgumentParser:
        cmd = commands.add_parser(name, help=help_text)
        cmd.add_argument("--since", type=_moment, required=True, help="YYYY-MM-DD or ISO instant")
        cmd.add_argument("--until", type=_moment, help="exclusive end (default: now)")
        cmd.add_argument("--store", help="only orders of this store key")
        return cmd

    backfill = ranged("backfill", "send historical orders and refunds to Yotpo")
    backfill.add_argument("--dry-run", action="store_true", help="print the plan; send nothing")
    backfill.add_argument("--restart", action="store_true", help="ignore a completed cursor")
    backfill.add_argument("--budget", type=float, help="stop after this many seconds")

    audit_cmd = ranged("audit", "compare every order's ledger with commercetools")
    audit_cmd.add_argument("--json", action="store_true", help="JSON instead of a table")
    return root


def main(
    argv: list[str] | None = None,
    *,
    settings: JobSettings | None = None,
    clients: JobClients | None = None,
    stdout: TextIO | None = None,
) -> int:
    args = parser().parse_args(argv)
    out = stdout or sys.stdout
    if settings is None:
        settings = load_or_exit("job", JobSettings)
        # Results go to stdout (tables, JSON to pipe on); the operator log lines to stderr.
        configure_logging(
            "job", secrets=settings.secret_values(), level=settings.log_level, stream=sys.stderr
        )
    clients = clients or build_job_clients(settings)
    say: Callable[[str], None] = lambda line: print(line, file=out, flush=True)  # noqa: E731

    if args.command == "reconcile":
        summary = NightlyReconciler(settings, clients).run(args.budget).as_dict()
        say(json.dumps(summary))
        return 0 if summary["outcome"] in _OK_OUTCOMES | {"already_running"} else 1

    try:
        order_range = OrderRange(since=args.since, until=args.until, store=args.store)
    except ValueError as exc:
        print(f"python -m job {args.command}: {exc}", file=sys.stderr)
        return 2

    if args.command == "audit":
        report = audit(settings, clients, order_range)
        say(json.dumps(report.as_dict(), indent=2) if args.json else render_table(report))
        return 0 if report.clean else 1

    from job.orders import Progress

    backfill = Backfill(
        settings, clients, out=say, progress=lambda total: Progress(total, stream=out)
    )
    if args.dry_run:
        summary = backfill.dry_run(order_range).as_dict()
    else:
        summary = backfill.run(
            order_range, budget_seconds=args.budget, restart=args.restart
        ).as_dict()
    say(json.dumps(summary))
    if summary["outcome"] == "budget_exhausted":
        return 3  # not finished: the same command continues where this one stopped
    clean = not summary.get("failed") and not summary.get("retry_later")
    return 0 if summary["outcome"] in _OK_OUTCOMES and clean else 1


if __name__ == "__main__":
    raise SystemExit(main())
