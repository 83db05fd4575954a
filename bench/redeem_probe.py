"""A short run of the service bench's redemption part, for tuning the checkout's critical path.

`python -m bench.redeem_probe [calls] [latency_ms ...]` (default 100 calls at 0 and 100 ms):
the same stack, figures, split and goal check as `python -m bench service`, without the
fast-path and sealed-reward parts. The figures to quote come from the full bench.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from bench.service_bench import redemptions, stack_options
from sandbox.stack import SandboxStack


def main(argv: list[str]) -> int:
    calls = int(argv[0]) if argv else 100
    latencies = tuple(int(a) for a in argv[1:]) or (0, 100)
    log_dir = Path(tempfile.mkdtemp(prefix="redeem-probe-"))
    with SandboxStack(stack_options(log_dir)) as stack:
        url = f"{stack.url('service')}/service"
        for line in redemptions(stack, url, log_dir, calls=calls, latencies=latencies):
            print(f"  {line}", flush=True)
    print(f"  logs: {log_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
