"""`make bench`: every benchmark against the sandbox, figures printed as they come."""

from __future__ import annotations

import importlib
import sys
import time

MODULES = (
    "bench.event_bench",
    "bench.ledger_bench",
    "bench.service_bench",
    "bench.voyado_checkout_bench",
    "bench.job_bench",
)


def main(argv: list[str] | None = None) -> int:
    wanted = set(argv if argv is not None else sys.argv[1:])
    for name in MODULES:
        short = name.removeprefix("bench.").removesuffix("_bench")
        if wanted and short not in wanted:
            continue
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                print(f"\n== {short}: not yet available")
                continue
            raise
        print(f"\n== {short}", flush=True)
        started = time.monotonic()
        for line in module.run():
            print(f"  {line}", flush=True)
        print(f"  ({time.monotonic() - started:.0f}s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
