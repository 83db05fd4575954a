"""Operator commands of the job app.

python -m job nightly [--budget SECONDS] [--json]
    the nightly run now (write-back of balances and tiers, stuck orders re-sent);
    resumable
python -m job backfill --since DATE [--until DATE] [--store KEY] [--dry-run] [--restart]
        [--budget SECONDS] [--json]
    historical orders and their refunds through the live reconciler; resumable per range;
    orders Yotpo refuses become dead letters (`python -m event replay` resends them after the
    fix); exit code 0 when done without failures, 3 when the budget ran out (run it again),
    else 1
python -m job audit --since DATE [--until DATE] [--store KEY] [--json] [--html FILE]
        [--no-recover]
    orders whose ledger disagrees with commercetools, stuck orders (re-sent unless
    --no-recover) and Yotpo cancellations that could not be honoured; exit code 1 if any
python -m job coupon-batch --batch-id ID --option ID --count N [...]
    in-store custom-coupon codes made in commercetools and uploaded to Yotpo
    (`job/coupon_batch.py`; `python -m job coupon-batch --help`)

Results for people go to stdout (a progress bar on a terminal, tables with the full reasons,
a summary); `--json` prints the machine-readable summary instead. The structured JSON log
lines go to stderr — at a terminal only warnings and errors, unless LOG_LEVEL is set.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from job.audit import audit, render_table
from job.backfill import MAX_LISTED_FAILURES, Backfill
from job.clients import JobClients, build_job_clients
from job.nightly import NightlyJob
from job.orders import OrderRange, parse_moment
from job.settings import JobSettings
from shared.boot import load_or_exit
from shared.cli.logs import configure_cli_logging
from shared.cli.progress import ProgressBar
from shared.cli.table import render_table as table

_OK_OUTCOMES = {"complete", "budget_exhausted", "already_complete", "planned"}
_RATE_MIN_SECONDS = 5.0


def _moment(text: str):  # argparse type
    try:
        return parse_moment(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m job", description=__doc__.split("\n")[0])
    commands = root.add_subparsers(dest="command", required=True)

    nightly = commands.add_parser("nightly", help="run the nightly run now")
    nightly.add_argument("--budget", type=float, help="seconds (default NIGHTLY_BUDGET_SECONDS)")
    nightly.add_argument("--json", action="store_true", help="the JSON summary only")

    def ranged(name: str, help_text: str) -> argparse.ArgumentParser:
        cmd = commands.add_parser(name, help=help_text)
        cmd.add_argument("--since", type=_moment, required=True, help="YYYY-MM-DD or ISO instant")
        cmd.add_argument("--until", type=_moment, help="exclusive end (default: now)")
        cmd.add_argument("--store", help="only orders of this store key")
        cmd.add_argument("--json", action="store_true", help="JSON instead of text for people")
        return cmd

    backfill = ranged("backfill", "send historical orders and refunds to Yotpo")
    backfill.add_argument("--dry-run", action="store_true", help="print the plan; send nothing")
    backfill.add_argument("--restart", action="store_true", help="ignore a completed cursor")
    backfill.add_argument("--budget", type=float, help="stop after this many seconds")

    # Listed for --help only: `main` hands `coupon-batch …` to job/coupon_batch.py unparsed.
    commands.add_parser(
        "coupon-batch", help="make and upload in-store coupon codes", add_help=False
    )

    audit_cmd = ranged("audit", "compare every order's ledger with commercetools")
    audit_cmd.add_argument(
        "--html", type=Path, metavar="FILE", help="also write a report to open in a browser"
    )
    audit_cmd.add_argument(
        "--no-recover",
        action="store_true",
        help="only list stuck orders (default: re-send them, as a redelivery would)",
    )
    return root


def main(
    argv: list[str] | None = None,
    *,
    settings: JobSettings | None = None,
    clients: JobClients | None = None,
    stdout: TextIO | None = None,
) -> int:
    given = list(sys.argv[1:] if argv is None else argv)
    if given[:1] == ["coupon-batch"]:
        from job import coupon_batch  # its own arguments and settings

        return coupon_batch.main(given[1:])
    args = parser().parse_args(given)
    out = stdout or sys.stdout
    if settings is None:
        settings = load_or_exit("job", JobSettings)
        # Results go to stdout (tables, JSON to pipe on); the operator log lines to stderr.
        configure_cli_logging(
            "job", secrets=settings.secret_values(), level=settings.log_level, stream=sys.stderr
        )
    clients = clients or build_job_clients(settings)
    say: Callable[[str], None] = lambda line: print(line, file=out, flush=True)  # noqa: E731

    if args.command == "nightly":
        summary = NightlyJob(settings, clients).run(args.budget).as_dict()
        say(json.dumps(summary) if args.json else nightly_text(summary))
        return 0 if summary["outcome"] in _OK_OUTCOMES | {"already_running"} else 1

    try:
        order_range = OrderRange(since=args.since, until=args.until, store=args.store)
    except ValueError as exc:
        print(f"python -m job {args.command}: {exc}", file=sys.stderr)
        return 2

    if args.command == "audit":
        report = audit(
            settings,
            clients,
            order_range,
            recover=not args.no_recover,
            progress=None if args.json else (lambda total: ProgressBar(total, stream=out)),
        )
        say(json.dumps(report.as_dict(), indent=2) if args.json else render_table(report))
        if args.html:
            from job.report_html import render_html

            args.html.write_text(render_html(report), encoding="utf-8")
            if not args.json:
                say(f"report written to {args.html}")
        return 0 if report.clean else 1

    progress = (
        (lambda total: ProgressBar(total, stream=out, enabled=False))
        if args.json
        else (lambda total: ProgressBar(total, stream=out))
    )
    backfill = Backfill(
        settings,
        clients,
        out=(lambda line: None) if args.json else say,
        progress=progress,
    )
    if args.dry_run:
        summary = backfill.dry_run(order_range).as_dict()
    else:
        summary = backfill.run(
            order_range, budget_seconds=args.budget, restart=args.restart
        ).as_dict()
    say(json.dumps(summary) if args.json else backfill_text(summary))
    if summary["outcome"] == "budget_exhausted":
        return 3  # not finished: the same command continues where this one stopped
    clean = not summary.get("failed") and not summary.get("retry_later")
    return 0 if summary["outcome"] in _OK_OUTCOMES and clean else 1


# --- text for people ------------------------------------------------------------------------
def share_used(summary: dict[str, Any]) -> str | None:
    """`4.97/s of the 5/s share (99 %)`: how much of its Yotpo rate a run used."""
    rate = summary.get("rate_share_per_second")
    seconds = summary.get("duration_seconds") or 0
    calls = summary.get("yotpo_calls") or 0
    if not rate or seconds < _RATE_MIN_SECONDS or not calls:
        return None  # a run of a few calls says nothing about the rate
    used = calls / seconds
    return f"{used:.2f}/s of the {rate:g}/s share ({used / rate:.0%})"


def _count(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def nightly_text(summary: dict[str, Any]) -> str:
    lines = [
        f"nightly: {summary['outcome']} in {summary.get('duration_seconds', 0):.1f}s"
        + (f" (phase {summary['phase']})" if summary.get("phase") else ""),
        f"  customers: {summary.get('checked', 0):,} looked at, "
        f"{summary.get('changed', 0):,} written, {summary.get('failed', 0):,} failed, "
        f"{summary.get('not_members', 0):,} not members",
    ]
    if summary.get("stuck_found"):
        lines.append(
            f"  stuck orders: {summary['stuck_found']} found, "
            f"{summary.get('stuck_recovered', 0)} re-sent"
        )
    if summary.get("handed_back") or summary.get("handed_back_retried"):
        down = summary.get("providers_unavailable") or {}
        out = ", ".join(f"{k}: {v}" for k, v in down.items())
        lines.append(
            f"  handed back: {summary.get('handed_back', 0):,} (provider out: {out or '-'}); "
            f"{summary.get('handed_back_retried', 0):,} from earlier runs looked at again"
        )
    if summary.get("provider_calls"):
        calls = ", ".join(f"{name} {n:,}" for name, n in summary["provider_calls"].items())
        lines.append(f"  provider calls: {calls}")
    used = share_used(summary)
    lines.append(
        f"  calls: Yotpo {summary.get('yotpo_calls', 0):,}, "
        f"commercetools {summary.get('ct_calls', 0):,}" + (f"; {used}" if used else "")
    )
    if summary.get("nights_for_full_coverage"):
        lines.append(
            f"  every customer is looked at within {summary['nights_for_full_coverage']} "
            "night(s) at the current settings"
        )
    if summary.get("error"):
        lines.append(f"  error: {summary['error']}")
    if summary.get("outcome") == "budget_exhausted":
        lines.append("  the next run continues where this one stopped")
    return "\n".join(lines)


def backfill_text(summary: dict[str, Any]) -> str:
    dry = summary.get("dry_run")
    verb = "would send" if dry else "sent"
    lines = [
        f"backfill{' (dry run)' if dry else ''}: {summary['outcome']} in "
        f"{summary.get('duration_seconds', 0):.1f}s, {_count(summary.get('orders', 0), 'order')}"
        " looked at",
        f"  {verb}: {_count(summary.get('sent_orders', 0), 'order')}, "
        f"{_count(summary.get('sent_refunds', 0), 'refund')}, "
        f"{_count(summary.get('sent_customers', 0), 'customer link')}",
        f"  up to date {summary.get('up_to_date', 0):,}, skipped {summary.get('skipped', 0):,}, "
        f"failed {summary.get('failed', 0):,}, to retry {summary.get('retry_later', 0):,}",
    ]
    used = share_used(summary)
    if used:
        lines.append(f"  Yotpo: {summary.get('yotpo_calls', 0):,} calls, {used}")
    failures = summary.get("failures") or []
    if failures:
        rows = [
            (f["order"], f["failure"], "yes" if f["dead_lettered"] else "NO", f["error"])
            for f in failures
        ]
        lines += ["", table(("order", "failure", "dead letter", "reason"), rows)]
        if len(failures) >= MAX_LISTED_FAILURES:
            lines.append(
                f"(the first {len(failures)} shown; every one is in the log and the dead letters)"
            )
    if summary.get("dead_lettered"):
        lines += [
            "",
            f"{_count(summary['dead_lettered'], 'order')} dead-lettered: fix the cause, then "
            "`python -m event replay --dry-run` to list and `python -m event replay` to resend",
        ]
    if summary.get("retry_later"):
        lines.append("orders that failed transiently are retried first by the next run")
    if summary.get("error"):
        lines.append(f"error: {summary['error']}")
    if summary.get("outcome") == "budget_exhausted":
        lines.append("not finished: run the same command again to continue")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
