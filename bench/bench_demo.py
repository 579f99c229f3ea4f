"""`make demo`'s work, the code of an earlier commit against this tree, side by side in alternating rounds.

Issue 15 asks that `make demo` on a 2-core CPU finish faster than before. The demo of the earlier code is its
ingest of the sample video, two MOT exports, four reports and ``info``; this tree's demo adds site adaptation,
which has no "before", so it is timed on its own (``--adapt``). Both trees run with this checkout's virtual
environment (``python -m app.cli`` with the tree first on ``PYTHONPATH``), each on a fresh store per round, and
each with its own export cache: round 1 is a fresh machine's first demo (exports built, engines measured), the
later rounds a repeated one. Wall and CPU seconds (all child processes) per step.

    .venv/bin/python bench/bench_demo.py --before 724ca08 --work /tmp/demo-bench --rounds 3 [--adapt]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# the demo's steps that both trees have, as in scripts/demo.sh (without the output files' names)
COMMON: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("ingest", ("ingest", "{video}", "--camera", "entrance", "--start", "2026-11-27T10:00:00", "--fps", "7")),
    ("export tracks", ("export-mot", "--camera", "entrance", "--ids", "track", "--out", "{out}/tracks.txt")),
    ("export identities", ("export-mot", "--camera", "entrance", "--ids", "identity", "--out", "{out}/ids.txt")),
    ("report html", ("report", "--out", "{out}/report.html")),
    ("report pdf", ("report", "--out", "{out}/report.pdf")),
    ("report csv", ("report", "--out", "{out}/report.csv")),
    ("report json", ("report", "--out", "{out}/report.json")),
    ("info", ("info",)),
)
ADAPT = ("adapt", ("adapt",))


@dataclass
class Timing:
    wall: dict[str, list[float]] = field(default_factory=dict)
    cpu: dict[str, list[float]] = field(default_factory=dict)

    def add(self, step: str, wall: float, cpu: float) -> None:
        self.wall.setdefault(step, []).append(wall)
        self.cpu.setdefault(step, []).append(cpu)


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def sample_video() -> Path:
    out = subprocess.run(["bash", str(ROOT / "scripts" / "find-sample.sh")], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(out.stderr.strip() or "no sample video")
    return Path(out.stdout.strip())


def unpack(rev: str, dest: Path) -> Path:
    """The tree of ``rev`` (git archive), unpacked once into ``dest``."""
    if not (dest / "app" / "cli.py").exists():
        dest.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    return dest


def run_demo(tree: Path, work: Path, video: Path, steps: tuple, timing: Timing, log) -> None:
    """One demo of ``tree`` on a fresh store in ``work``; the export cache persists across rounds."""
    out = work / "out"
    out.mkdir(parents=True, exist_ok=True)
    db = out / "demo.db"
    for p in out.glob("demo.db*"):
        if p.is_file():
            p.unlink()
    env = dict(os.environ, PYTHONPATH=str(tree), REIDWATCH_CACHE_DIR=str(work / "cache"),
               REIDWATCH_CONFIG=str(work / "config.toml"), REIDWATCH_DB=str(db))
    (work / "config.toml").touch()
    for name, args in steps:
        cmd = [sys.executable, "-m", "app.cli", *(a.format(video=video, out=out) for a in args)]
        if name == "ingest":
            cmd.append("--no-progress")
        c0, t0 = _children_cpu(), time.perf_counter()
        done = subprocess.run(cmd, cwd=tree, env=env, stdout=log, stderr=log)
        wall, cpu = time.perf_counter() - t0, _children_cpu() - c0
        if done.returncode != 0:
            raise SystemExit(f"{tree.name}: {name} failed (exit {done.returncode}); see {log.name}")
        timing.add(name, wall, cpu)
        print(f"  {tree.name or 'tree'} {name}: {wall:.1f} s wall, {cpu:.1f} s CPU", flush=True)


def table(label_a: str, a: Timing, label_b: str, b: Timing) -> str:
    def med(xs: list[float]) -> float:
        return statistics.median(xs)

    rows = [f"| step | {label_a} wall s (rounds) | {label_b} wall s (rounds) | {label_a} / {label_b} wall "
            f"| CPU s {label_a} / {label_b} |", "|---|---|---|---|---|"]
    steps = list(dict.fromkeys([*a.wall, *b.wall]))
    for s in steps:
        aw, bw = a.wall.get(s), b.wall.get(s)
        fa = f"{med(aw):.1f} ({', '.join(f'{x:.1f}' for x in aw)})" if aw else "-"
        fb = f"{med(bw):.1f} ({', '.join(f'{x:.1f}' for x in bw)})" if bw else "-"
        ratio = f"{med(aw) / med(bw):.2f}x" if aw and bw else "-"
        cpu = (f"{med(a.cpu[s]):.1f} / {med(b.cpu[s]):.1f}" if aw and bw
               else f"{med((a.cpu if aw else b.cpu)[s]):.1f}")
        rows.append(f"| {s} | {fa} | {fb} | {ratio} | {cpu} |")
    common = [s for s in steps if s in a.wall and s in b.wall]
    for r in ("all rounds", "round 1 (cold cache)", "later rounds (warm)"):
        def total(t: Timing, pick) -> float:
            per_round = [sum(t.wall[s][i] for s in common) for i in range(len(t.wall[common[0]]))]
            chosen = pick(per_round)
            return med(chosen) if chosen else float("nan")
        pick = {"all rounds": lambda xs: xs, "round 1 (cold cache)": lambda xs: xs[:1],
                "later rounds (warm)": lambda xs: xs[1:]}[r]
        ta, tb = total(a, pick), total(b, pick)
        if ta != ta or tb != tb:  # no such rounds (NaN): one round has no "later rounds"
            continue
        rows.append(f"| **common steps, {r}** | {ta:.1f} | {tb:.1f} | **{ta / tb:.2f}x** | |")
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--before", required=True, help="the earlier commit (e.g. the last one before issue 15)")
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--adapt", action="store_true", help="also time this tree's adaptation step (no before)")
    ap.add_argument("--video", type=Path, help="default: the demo's sample video")
    args = ap.parse_args()
    if args.rounds < 1:
        raise SystemExit("--rounds must be at least 1")
    video = args.video or sample_video()
    work = args.work.resolve()
    before_tree = unpack(args.before, work / "before-tree")
    trees = {"before": (before_tree, COMMON), "now": (ROOT, COMMON + ((ADAPT,) if args.adapt else ()))}
    timings = {k: Timing() for k in trees}
    with (work / "log.txt").open("a") as log:
        for rnd in range(args.rounds):
            order = list(trees) if rnd % 2 == 0 else list(reversed(trees))
            for k in order:
                tree, steps = trees[k]
                t0 = time.perf_counter()
                run_demo(tree, work / k, video, steps, timings[k], log)
                print(f"round {rnd + 1} {k}: {time.perf_counter() - t0:.1f} s, load {os.getloadavg()[0]:.1f}",
                      flush=True)
    print(f"\nbefore = {args.before}, now = this tree; {args.rounds} rounds, {os.cpu_count()} CPUs\n")
    print(table("before", timings["before"], "now", timings["now"]))


if __name__ == "__main__":
    main()
