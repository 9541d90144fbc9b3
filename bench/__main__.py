"""Run benchmarks: `python -m bench` runs all of them at quick sizes (a few minutes on a shared 2-core
machine), `python -m bench --full` at their full sizes, `python -m bench engine --keys 500` one."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def main(argv: list[str]) -> None:
    """Run one benchmark with its options (`engine --keys 500`), or all (`--quick` unless `--full`)."""
    here = Path(__file__).parent
    if argv and argv[0] != "--full":
        names, options = [argv[0]], argv[1:]
    else:
        names = sorted(m.name for m in pkgutil.iter_modules([str(here)]) if not m.name.startswith("_"))
        options = [] if argv else ["--quick"]
    for name in names:
        print(f"\n=== bench/{name}.py ===", flush=True)
        importlib.import_module(f"bench.{name}").main(options)


if __name__ == "__main__":
    main(sys.argv[1:])
