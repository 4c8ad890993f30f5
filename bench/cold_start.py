#!/usr/bin/env python3
"""Cold-start benchmark for the texgrad CLI.

Measures the median wall time of fresh interpreter processes:

  * ``python -c "pass"``          -- interpreter floor
  * ``python -c "import numpy"``  -- the reference
  * ``python -m texgrad EXPR --wrt VAR``
  * ``texgrad EXPR --wrt VAR``    -- console script, if installed next to
                                     ``sys.executable``

Runs are interleaved (one of each command per round) after warm-up rounds.
Target: texgrad's median <= 1.5x the numpy import median. Also reports which heavy
modules the CLI path imports: sympy, lark and numpy.random should not be (the parser runs
Lark's cached tables without Lark; see texgrad/lalr.py).

Where valgrind is installed, the instructions each command executes are counted too
(callgrind): unlike wall time on a shared machine, that figure does not move between runs.

Stdlib only. Run after ``pip install .``:  python bench/cold_start.py
Exits 0 unless the texgrad CLI command itself fails.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

EXPR = r"\mathbf{x}^\top B\,\mathbf{x}"
WRT = r"\mathbf{x}"
TARGET_RATIO = 1.5

SYMPY_PROBE = r"""
import sys, runpy
sys.argv = ["texgrad"] + sys.argv[1:]
code = 0
try:
    runpy.run_module("texgrad", run_name="__main__", alter_sys=True)
except SystemExit as e:
    code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
for mod in ("sympy", "lark", "numpy.random"):
    sys.stderr.write("\n__TEXGRAD_LOADED__%s=%s\n" % (mod, mod in sys.modules))
sys.exit(code)
"""


def run_once(cmd: list[str]) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.perf_counter()
    proc = subprocess.run(
        cmd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return time.perf_counter() - t0, proc


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=15, help="timed runs per command (default 15)")
    ap.add_argument("--warmup", type=int, default=2, help="warm-up rounds (default 2)")
    args = ap.parse_args()

    py = sys.executable
    cli_args = [EXPR, "--wrt", WRT]

    commands: list[tuple[str, list[str]]] = [
        ('python -c "pass"', [py, "-c", "pass"]),
        ('python -c "import numpy"', [py, "-c", "import numpy"]),
        ("python -m texgrad ...", [py, "-m", "texgrad", *cli_args]),
    ]
    script = Path(py).parent / ("texgrad.exe" if os.name == "nt" else "texgrad")
    if script.is_file() and os.access(script, os.X_OK):
        commands.append(("texgrad ... (console script)", [str(script), *cli_args]))
    else:
        print(f"note: no texgrad console script next to {py}; timing only 'python -m texgrad'")

    texgrad_labels = [label for label, _ in commands if "texgrad" in label]

    # The CLI must work before timing it.
    for label in texgrad_labels:
        cmd = dict(commands)[label]
        _, proc = run_once(cmd)
        if proc.returncode != 0:
            sys.stderr.write(f"texgrad CLI failed ({label}, exit {proc.returncode}):\n{proc.stderr}")
            return 1
    print(f"CLI output: {proc.stdout.strip()}")

    for _ in range(args.warmup):
        for _, cmd in commands:
            run_once(cmd)

    times: dict[str, list[float]] = {label: [] for label, _ in commands}
    for _ in range(args.runs):
        for label, cmd in commands:
            dt, _ = run_once(cmd)
            times[label].append(dt)

    med = {label: statistics.median(ts) * 1000.0 for label, ts in times.items()}
    ref = med['python -c "import numpy"']

    print()
    print(f"python: {py} ({sys.version.split()[0]}); {args.runs} runs each, "
          f"interleaved, after {args.warmup} warm-up rounds")
    width = max(len(label) for label in med)
    print(f"{'command':<{width}}  {'median ms':>10}  {'x numpy':>8}")
    print(f"{'-' * width}  {'-' * 10}  {'-' * 8}")
    for label, _ in commands:
        print(f"{label:<{width}}  {med[label]:>10.1f}  {med[label] / ref:>8.2f}")

    print()
    print(f"target: texgrad <= {TARGET_RATIO:.1f}x numpy import ({TARGET_RATIO * ref:.1f} ms)")
    for label in texgrad_labels:
        ratio = med[label] / ref
        verdict = "MET" if ratio <= TARGET_RATIO else "NOT MET"
        print(f"  {label}: {ratio:.2f}x -> {verdict}")

    instructions(commands, texgrad_labels)

    # Which heavy modules does the CLI path import?
    _, proc = run_once([py, "-c", SYMPY_PROBE, *cli_args])
    if proc.returncode != 0:
        sys.stderr.write(f"texgrad CLI failed under the import probe (exit {proc.returncode}):\n{proc.stderr}")
        return 1
    marks = dict(ln[len("__TEXGRAD_LOADED__"):].split("=", 1) for ln in proc.stderr.splitlines()
                 if ln.startswith("__TEXGRAD_LOADED__"))
    for mod in ("sympy", "lark", "numpy.random"):
        state = marks.get(mod)
        print(f"{mod} imported on the CLI path: "
              f"{'could not determine' if state is None else ('YES (should not be)' if state == 'True' else 'no')}")
    return 0


def instructions(commands, texgrad_labels) -> None:
    """Instructions executed by each command, counted by valgrind's callgrind when it is
    installed: a figure that does not move with the machine's load, unlike wall time."""
    import re
    import shutil
    import tempfile
    if shutil.which("valgrind") is None:
        print("\ninstructions: valgrind is not installed (the wall times above stand alone)")
        return
    counts = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, cmd in commands:
            if label == 'python -c "pass"':
                continue
            proc = subprocess.run(["valgrind", "--tool=callgrind",
                                   f"--callgrind-out-file={tmp}/cg.out", *cmd],
                                  stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True)
            m = re.search(r"Collected : (\d+)", proc.stderr)
            if m:
                counts[label] = int(m.group(1))
    ref = counts.get('python -c "import numpy"')
    if not ref:
        print("\ninstructions: valgrind gave no count")
        return
    print("\ninstructions (valgrind callgrind, one run each):")
    for label, n in counts.items():
        print(f"  {label}: {n / 1e6:,.1f} M, {n / ref:.2f}x numpy")


if __name__ == "__main__":
    sys.exit(main())
