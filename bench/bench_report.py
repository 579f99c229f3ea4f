"""How long a cross-camera match report takes for 100 and 1,000 identities, per step and per format.

Builds a synthetic store per size (``tests/app/report/store_factory.build_synthetic_store``: 1-4 sightings per
identity across four cameras over eight hours, matches between consecutive sightings, one thumbnail per track
cut from vtest.avi when the shared data is there), then times in the same run, for each size:

- ``build``: reading the store into the report value (``app.report.build_report``);
- ``html`` / ``pdf`` / ``csv`` / ``json``: rendering and writing that value (pictures included for the first
  ``--pictures`` identities, the default of ``reidwatch report``).

Prints wall and CPU seconds, the file size, and the ratio of each larger size to the first (how the cost
grows with the store). Usage::

    .venv/bin/python bench/bench_report.py [--sizes 100 1000] [--formats html pdf csv json] [--pictures 30]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from app.report import DEFAULT_MAX_PICTURES, build_report, write_report  # noqa: E402
from devkit.report_store import build_synthetic_store, vtest_thumbnails  # noqa: E402


def _data(name: str) -> Path:
    from devkit.data import find_data

    return find_data(name) or Path(name)


log = logging.getLogger("bench_report")


def _timed(fn):  # type: ignore[no-untyped-def]
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w, time.process_time() - c


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 1000], help="identities per synthetic store")
    ap.add_argument("--formats", nargs="+", default=["html", "pdf", "csv", "json"],
                    choices=["html", "pdf", "csv", "json"])
    ap.add_argument("--pictures", type=int, default=DEFAULT_MAX_PICTURES, help="identities with pictures")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)

    vtest, gt = _data("vtest.avi"), _data("pets09-s2l1-gt-dev.txt")
    thumbs = list(vtest_thumbnails(vtest, gt).values()) if vtest.is_file() and gt.is_file() else None
    print(f"thumbnails: {'cut from vtest.avi' if thumbs else 'none (shared data not found)'}; "  # noqa: T201
          f"pictures for the first {args.pictures} identities")
    results: dict[int, dict[str, tuple[float, float, int]]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        for n in args.sizes:
            db = build_synthetic_store(Path(tmp) / f"store-{n}.db", n, seed=n, thumbnails=thumbs)
            report, wall, cpu = _timed(lambda db=db: build_report(db, max_pictures=args.pictures))
            row = {"build": (wall, cpu, 0)}
            for fmt in args.formats:
                path, wall, cpu = _timed(lambda fmt=fmt, n=n, r=report: write_report(r, Path(tmp) / f"report-{n}.{fmt}"))
                row[fmt] = (wall, cpu, path.stat().st_size)
            results[n] = row
            db.close()
            s = report.summary
            print(f"{n} identities: {s.n_sightings} sightings, "  # noqa: T201
                  f"{sum(s.matches.values())} matches, {report.n_illustrated} illustrated")

    steps = ["build", *args.formats]
    base = args.sizes[0]
    header = f"{'step':<6}" + "".join(f"{f'{n} ids: wall s':>17}{'cpu s':>8}{'size':>11}" for n in args.sizes)
    header += "".join(f"{f'x{n}/{base}':>11}" for n in args.sizes[1:])
    print(header)  # noqa: T201
    for step in steps:
        line = f"{step:<6}"
        for n in args.sizes:
            wall, cpu, size = results[n][step]
            line += f"{wall:>17.2f}{cpu:>8.2f}{(f'{size / 1e6:.2f} MB' if size else '-'):>11}"
        for n in args.sizes[1:]:
            line += f"{results[n][step][0] / max(results[base][step][0], 1e-9):>11.1f}"
        print(line)  # noqa: T201
    for n in args.sizes:
        total = sum(results[n][s][0] for s in ("build", "html") if s in results[n])
        print(f"{n} identities: store -> HTML in {total:.1f} s wall")  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
