"""Run the benchmarks and write bench/RESULTS.md. ``make bench``.

    python -m bench.run                  every suite; RESULTS.md written anew
    python -m bench.run imports edits    only these suites (``bench.imports`` or ``imports``): their
                                         sections of RESULTS.md replaced, the others kept as they are
"""
from __future__ import annotations

import importlib
import os
import platform
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

SUITES = ["bench.api", "bench.page", "bench.export", "bench.load", "bench.edits", "bench.peer", "bench.table", "bench.stats",
          "bench.imports", "bench.tiles", "bench.ogc"]


def _suite(name: str) -> str:
    full = name if name.startswith("bench.") else f"bench.{name}"
    if full not in SUITES:
        raise SystemExit(f"no suite {name!r}; the suites are: {', '.join(s.removeprefix('bench.') for s in SUITES)}")
    return full


def main(argv: list[str] | None = None) -> int:
    chosen = [_suite(n) for n in (sys.argv[1:] if argv is None else argv)]
    sections = []
    for name in chosen or SUITES:
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
    if chosen:  # only these: their sections replaced, the rest of the file kept
        from bench.page import write_section

        for section in sections:
            write_section(section, HERE / "RESULTS.md")
        print(f"updated {len(sections)} section(s) of {HERE / 'RESULTS.md'}")
        return 0
    head = (f"# Benchmark results\n\nMeasured {time.strftime('%Y-%m-%d %H:%M')} on {platform.node() or 'this machine'}: "
            f"{os.cpu_count()} cores, Python {platform.python_version()}. Shared, noisy machines: read medians "
            "and the side-by-side ratios, not single numbers.\n")
    (HERE / "RESULTS.md").write_text(head + "\n" + "\n".join(sections), encoding="utf-8")
    print(f"wrote {HERE / 'RESULTS.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
