"""Run every benchmark and write bench/RESULTS.md. ``make bench``."""
from __future__ import annotations

import importlib
import os
import platform
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

SUITES = ["bench.api", "bench.page", "bench.export", "bench.load", "bench.edits", "bench.peer", "bench.stats"]


def main() -> int:
    sections = []
    for name in SUITES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue  # that suite is not written yet
            raise
        print(f"running {name} ...", flush=True)
        section = module.run()
        print(section, flush=True)
        sections.append(section)
    head = (f"# Benchmark results\n\nMeasured {time.strftime('%Y-%m-%d %H:%M')} on {platform.node() or 'this machine'}: "
            f"{os.cpu_count()} cores, Python {platform.python_version()}. Shared, noisy machines: read medians "
            "and the side-by-side ratios, not single numbers.\n")
    (HERE / "RESULTS.md").write_text(head + "\n" + "\n".join(sections), encoding="utf-8")
    print(f"wrote {HERE / 'RESULTS.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
