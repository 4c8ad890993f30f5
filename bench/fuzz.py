"""The long fuzz run (issue 5, part 3): the properties of tests/test_fuzz.py under the ``long``
hypothesis profile, 20,000 examples in total by default, with every failure counted rather
than stopping the run.

    python bench/fuzz.py                       # 20,000 examples (about 2 minutes)
    python bench/fuzz.py --examples 2000       # a quicker look
    python bench/fuzz.py --only derivative --only roundtrip --derandomize
    python bench/fuzz.py --failures /tmp/fuzz-failures.json

Prints, per property: examples tried, crashes (an exception other than TexgradError, an exit
status other than 0/1/2, a traceback), false verified stamps, round-trip failures, misreads,
numeric checks that failed (reported by texgrad, so not a failure of the property) and wall
time.  Failures are listed shortest input first and, with --failures, written as JSON.
The exit status is 1 when any failure was met (known bugs listed in test_fuzz.KNOWN_BUGS are
skipped, as in the test suite).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROPERTIES = {          # short name -> test function in tests/test_fuzz.py
    "value": "test_value_matches_reference",
    "derivative": "test_derivative_verified_or_reported",
    "second": "test_second_derivative_verified_or_reported",
    "roundtrip": "test_printed_derivative_round_trips",
    "mutation": "test_only_texgrad_errors_escape",
    "cli_text": "test_cli_random_text_in_process",
    "cli_bytes": "test_cli_random_bytes_in_process",
    "cli_subprocess": "test_cli_random_text_and_bytes_subprocess",
}


def _load(examples: int, derandomize: bool):
    os.environ["TEXGRAD_FUZZ_COUNT_ONLY"] = "1"
    os.environ["HYPOTHESIS_PROFILE"] = "long"
    for p in (ROOT / "tests", ROOT / "src"):
        if str(p) not in sys.path:
            sys.path.insert(0, str(p))
    from hypothesis import settings

    import conftest  # noqa: F401 - registers the profiles
    settings.register_profile("bench", parent=settings.get_profile("long"),
                              max_examples=examples, derandomize=derandomize)
    settings.load_profile("bench")
    import test_fuzz
    return test_fuzz


def _classify(kind: str) -> str:
    if kind.startswith("crash") or kind.startswith("exit status") or kind == "traceback":
        return "crashes"
    if kind == "false verified stamp":
        return "false verified stamps"
    if kind in ("round trip differs", "printed derivative not re-readable"):
        return "round-trip failures"
    if kind in ("misread", "well-formed formula rejected"):
        return "misreads"
    if kind.startswith("check failed, answer"):
        return None
    return "other failures"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--examples", type=int, default=20_000,
                    help="examples in total, shared among the properties (default 20000)")
    ap.add_argument("--only", action="append", choices=sorted(PROPERTIES),
                    help="run only this property (repeatable)")
    ap.add_argument("--derandomize", action="store_true",
                    help="the same examples on every run (default: random)")
    ap.add_argument("--failures", type=Path, default=None, help="write every failure as JSON")
    ap.add_argument("--show", type=int, default=3, help="failures shown per kind (default 3)")
    args = ap.parse_args(argv)

    import warnings
    warnings.filterwarnings("ignore", category=RuntimeWarning)     # overflow in a check's draw
    warnings.filterwarnings("ignore", message="The recursion limit will not be reset")
    tf = _load(args.examples, args.derandomize)
    import hypothesis
    import numpy as np

    import texgrad
    print(f"texgrad {texgrad.__version__} from {Path(texgrad.__file__).parent}; hypothesis "
          f"{hypothesis.__version__}; numpy {np.__version__}; python {sys.version.split()[0]}")
    print(f"profile: long, {args.examples:,} examples shared among the properties"
          f"{', derandomized' if args.derandomize else ', random'}; known bugs skipped: "
          f"{len(tf.KNOWN_BUGS)}")
    names = args.only or list(PROPERTIES)
    rows = []
    start = time.perf_counter()
    for name in names:
        fn = getattr(tf, PROPERTIES[name])
        budget = tf._examples(name)
        t0 = time.perf_counter()
        aborted = ""
        try:
            fn()
        except Exception as e:      # noqa: BLE001 - a hypothesis error, or a test-code bug
            aborted = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:200]
        wall = time.perf_counter() - t0
        rows.append((name, budget, wall, aborted))
        s = tf.STATS[name]
        print(f"  {name:15s} {s['examples']:6d} examples in {wall:7.1f} s"
              + (f"   ABORTED: {aborted}" if aborted else ""), flush=True)
    total_wall = time.perf_counter() - start

    # ------------------------------------------------------------------- figures
    fails_by = {}
    for f in tf.FAILURES:
        cls = _classify(f["kind"])
        if cls is not None:
            fails_by.setdefault((f["property"], cls), []).append(f)
    print()
    head = (f"{'property':15s} {'examples':>8s} {'crashes':>8s} {'false ok':>8s} "
            f"{'roundtrip':>9s} {'misreads':>8s} {'other':>6s} {'chk failed':>10s} "
            f"{'refused':>8s} {'wall s':>8s}")
    print("crashes: an exception other than TexgradError, exit status 3, a traceback; false "
          "ok: a verified stamp\nthe independent check contradicts; roundtrip: the printed "
          "derivative does not read back equal;\nmisreads: texgrad.evaluate differs from the "
          "reference; chk failed: texgrad's own check failed and\nsaid so (reported, not a "
          "property failure); refused: TexgradError / exit 2 outcomes (per call)\n")
    print(head)
    print("-" * len(head))
    tot = dict(examples=0, crashes=0, false=0, rt=0, mis=0, other=0, cf=0, refused=0)
    for name, _budget, wall, _ab in rows:
        s = tf.STATS[name]

        def n(cls, name=name):
            return len(fails_by.get((name, cls), []))
        cf = sum(v for k, v in s.items() if k.startswith("check failed"))
        refused = sum(v for k, v in s.items() if k.startswith("refused") or
                      k.endswith("TexgradError") or k == "differentiate refused" or
                      k == "exit 2")
        vals = dict(examples=s["examples"], crashes=n("crashes"),
                    false=n("false verified stamps"), rt=n("round-trip failures"),
                    mis=n("misreads"), other=n("other failures"), cf=cf, refused=refused)
        for k in tot:
            tot[k] += vals[k]
        print(f"{name:15s} {vals['examples']:8d} {vals['crashes']:8d} {vals['false']:8d} "
              f"{vals['rt']:9d} {vals['mis']:8d} {vals['other']:6d} {vals['cf']:10d} "
              f"{vals['refused']:8d} {wall:8.1f}")
    print("-" * len(head))
    print(f"{'total':15s} {tot['examples']:8d} {tot['crashes']:8d} {tot['false']:8d} "
          f"{tot['rt']:9d} {tot['mis']:8d} {tot['other']:6d} {tot['cf']:10d} "
          f"{tot['refused']:8d} {total_wall:8.1f}")

    print("\noutcomes per property:")
    for name, *_ in rows:
        items = sorted(tf.STATS[name].items(), key=lambda kv: (-kv[1], kv[0]))
        print(f"  {name}: " + ", ".join(f"{k} {v}" for k, v in items))

    for verdict, what in (("wrong", "wrong derivatives that texgrad's check caught and "
                                    "reported"),
                          ("right", "right derivatives whose numeric check failed (a false "
                                    "alarm; the independent check agrees with the answer)")):
        group = [f for f in tf.FAILURES if f["kind"] == f"check failed, answer {verdict}"]
        if group:
            print(f"\n{what} ({len(group)}), shortest first:")
            for f in sorted(group, key=lambda f: len(f.get("latex", "")))[:args.show]:
                print(f"  {f['latex']!r} wrt {f['wrt']} (shapes {f['shapes']}, assume "
                      f"{f['assume']}): {f.get('derivative')!r}\n      {f['message']}")
    if fails_by:
        print("\nfailures (shortest input first):")
        for (prop, cls), fs in sorted(fails_by.items()):
            kinds = {}
            for f in fs:
                kinds.setdefault(f["kind"], []).append(f)
            for kind, group in kinds.items():
                print(f"  [{prop}] {kind}: {len(group)}")
                key = (lambda f: len(str(f.get("text", f.get("latex", f.get("input", ""))))))
                for f in sorted(group, key=key)[:args.show]:
                    shown = {k: v for k, v in f.items()
                             if k not in ("property", "kind", "got", "want")}
                    print(f"      {shown}")
    if args.failures:
        args.failures.write_text(json.dumps(tf.FAILURES, indent=1, default=str),
                                 encoding="utf-8")
        print(f"\nall failures written to {args.failures}")
    print(f"\nwall time: {total_wall:.1f} s")
    bad = any(cls for (_p, cls) in fails_by) or any(ab for *_x, ab in rows)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
