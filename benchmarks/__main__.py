"""Command line: run the suite, or render the docs page from result files.

python -m benchmarks [--quick] [--json PATH] [--only SCENARIO ...]
python -m benchmarks --render docs/benchmarks.md RESULT.json [RESULT.json ...]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from ._config import FULL, QUICK
from ._docs import load, render_docs
from ._report import terminal
from ._run import SCENARIOS, run


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run or render; return the exit status."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a short run (< 1 minute)")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument(
        "--only", nargs="+", choices=SCENARIOS, default=list(SCENARIOS), help="scenarios to run"
    )
    parser.add_argument(
        "--render",
        type=Path,
        metavar="MARKDOWN",
        help="render this Markdown page (and its PNG charts next to it) from RESULTS; no run",
    )
    parser.add_argument("results", nargs="*", type=Path, help="result files for --render")
    args = parser.parse_args(argv)
    if args.render is not None:
        results = load(args.results)
        missing = [str(p) for p in args.results if not p.exists()]
        if missing:
            print(f"not found, left out: {', '.join(missing)}", file=sys.stderr)
        for written in render_docs(results, args.render):
            print(f"wrote {written}", file=sys.stderr)
        return 0
    if args.results:
        parser.error("result files are only read with --render")
    result = run(QUICK if args.quick else FULL, args.only)
    print(terminal(result))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1) + "\n")
        print(f"wrote {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
