"""All of texgrad's benchmarks in one run: ``python bench/run.py`` (after ``pip install .``).

Each part prints its own table with ratios measured side by side in the same run:
cold start against ``import numpy`` (cold_start.py), milliseconds per formula in a warm
process: API, batch, claims, the language server (fast_path.py), throughput, SymPy and generated code
(peers.py), and growth with the expression (scaling.py, k up to 1,000).  Benchmarks are not
unit tests: they report, and exit 0.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    parts = [("cold start", ["cold_start.py"]), ("warm fast path", ["fast_path.py"]),
             ("peers", ["peers.py"]),
             ("sums over samples", ["samples.py"]),
             ("scaling", ["scaling.py", "--large"])]
    for title, args in parts:
        print(f"\n=== {title} " + "=" * (60 - len(title)))
        sys.stdout.flush()
        subprocess.run([sys.executable, str(HERE / args[0]), *args[1:]], check=False)


if __name__ == "__main__":
    main()
