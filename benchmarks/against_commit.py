"""Time a benchmark script in this tree and in another commit's, alternately, in one run.

Performance targets are ratios to an earlier commit ("within 1.2× of today's figures"),
so both sides are measured on the same machine, in the same minutes, with the same
Python: a git worktree of ``--commit`` is made in a temporary folder, each tree's
script runs ``--repeat`` times in turn (after one untimed run each, so Numba caches are
warm on both sides), and the median, min and max wall seconds per tree are printed
with their ratio. The script's own output (its figures) is shown for the last run.

    .venv/bin/python benchmarks/against_commit.py --commit 25da0a9 \\
        benchmarks/engine_nasa_30d.py [--repeat 3]

The other commit must have the same script path (or give ``--other-script``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _time(tree: Path, script: str, env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, str(tree / script)],
        cwd=tree,
        env={**env, "PYTHONPATH": str(tree)},
        capture_output=True,
        text=True,
        check=True,
    )
    return time.perf_counter() - start, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("script", help="benchmark script, relative to the repository root")
    parser.add_argument("--commit", required=True, help="the commit to compare against")
    parser.add_argument("--other-script", help="the script's path in that commit")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    env = dict(os.environ)
    with tempfile.TemporaryDirectory(prefix="capsim-bench-") as folder:
        other = Path(folder) / "tree"
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(other), args.commit],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        try:
            trees = {
                "this": (ROOT, args.script),
                args.commit: (other, args.other_script or args.script),
            }
            times: dict[str, list[float]] = {name: [] for name in trees}
            outputs: dict[str, str] = {}
            for tree, script in trees.values():
                _time(tree, script, env)  # untimed: compile caches
            for _ in range(args.repeat):
                for name, (tree, script) in trees.items():
                    seconds, outputs[name] = _time(tree, script, env)
                    times[name].append(seconds)
        finally:
            subprocess.run(
                ["git", "worktree", "remove", "--force", str(other)], cwd=ROOT, check=False
            )
    for name, values in times.items():
        print(
            f"{name:>12}: median {statistics.median(values):6.2f} s  "
            f"min {min(values):6.2f}  max {max(values):6.2f}  ({len(values)} runs)"
        )
        print("   " + outputs[name].strip().replace("\n", "\n   "))
    ratio = statistics.median(times["this"]) / statistics.median(times[args.commit])
    print(f"ratio this / {args.commit}: {ratio:.2f}")


if __name__ == "__main__":
    main()
