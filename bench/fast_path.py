#!/usr/bin/env python3
"""The warm fast path: milliseconds per formula in a process that is already running.

Each formula is answered the way a long-lived caller gets it -- derivation, numeric check
and printing -- on the public corpus (``tests/data/cases.jsonl``, 59 formulas with their
shapes, and ``tests/data/claims.jsonl``, 58 printed claims):

* ``api``: ``texgrad.differentiate(..., verify=True)`` in this process, warmed on another
  formula first; the first call of each formula, and the median of 5 calls;
* ``batch record``: ``batchrecord.process_record`` (what a ``texgrad batch`` worker runs per
  line: JSON in, time limit, JSON out) on the corpus's records;
* ``texgrad batch``: the real command on the corpus repeated R times, per record =
  (wall(N records) - wall(1 record)) / (N - 1), so start-up is not counted;
* ``claim``: ``texgrad.check_claim`` on each printed claim (both sides read, the left
  differentiated, both drawn and compared);
* ``lsp worker``: the server's work for a hover in its worker's warm process
  (``lspwork.hover``, nothing kept);
* ``lsp hover``: a real ``texgrad lsp`` over stdio (when pygls is installed): each case
  written as ``\\frac{\\partial}{\\partial v} f`` in a document (no shapes given: read by
  convention), opened, its diagnostics awaited, hovered; the round trip of the first hover
  request (its worker process included), and of a repeated one (kept by the server);
* ``serve``: the playground's ``POST /api/derive`` on a real ``texgrad serve``, over one
  keep-alive HTTP connection, the round trip of each case (with its shapes).

Baseline, measured in the same run: a central finite-difference gradient of the corpus's
own NumPy ``f`` at the same sizes (2 x entries evaluations), which is what checking a
gradient by hand costs.  Target: each texgrad median <= 3 ms per formula.

Run: ``python bench/fast_path.py`` (after ``pip install .``; ``'.[lsp]'`` for the server).
Exits 0: benchmarks report.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import texgrad

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from corpus import assume_of, draw, load, numpy_eval, shapes_of, sizes_for  # noqa: E402

TARGET_MS = 3.0


def ms(t: float) -> float:
    return 1000.0 * t


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def fd_baseline(case: dict) -> float:
    """Seconds for a central-difference gradient of the corpus's NumPy f, all entries."""
    values = draw(case, np.random.default_rng(0), sizes_for(case))
    names = {v: k for k, v in case.get("latex_names", {}).items()}
    name = names.get(case["wrt"], case["wrt"].split("_")[0])
    name = name if name in values else next(iter(values))
    x0 = np.asarray(values[name], dtype=complex if np.iscomplexobj(values[name]) else float)

    def run():
        g = np.zeros(x0.shape)
        flat = x0.reshape(-1)
        for k in range(flat.size):
            for sign in (1.0, -1.0):
                x = flat.copy()
                x[k] += sign * 1e-6
                v = dict(values)
                v[name] = x.reshape(x0.shape) if x0.shape else x.item()
                g.reshape(-1)[k] += sign * np.sum(np.real(numpy_eval(case["numpy"]["f"], v)))
        return g
    return min(timed(run) for _ in range(3))


def api_times(cases):
    texgrad.differentiate(r"\mathbf{a}^T X \mathbf{b}", wrt="X", verify=True)   # warm
    first, steady = [], []
    for c in cases:
        def call(c=c):
            texgrad.differentiate(c["latex"], wrt=c["wrt"], shapes=shapes_of(c),
                                  assume=assume_of(c), kind=c["kind"], verify=True)
        first.append(timed(call))
        steady.append(statistics.median(timed(call) for _ in range(5)))
    return first, steady


def record_of(c: dict) -> bytes:
    return json.dumps({"id": c["id"], "latex": c["latex"], "wrt": c["wrt"],
                       "symbols": c["symbols"], "kind": c["kind"]}).encode() + b"\n"


def record_times(cases):
    from texgrad.batchrecord import prepare_process, process_record
    prepare_process()
    cfg = {"timeout": 10.0, "seed": 0}
    out = []
    for i, c in enumerate(cases):
        raw = record_of(c)
        out.append(statistics.median(timed(lambda: process_record(i, raw, cfg))
                                     for _ in range(5)))
    return out


def batch_cli(cases, repeat: int):
    """Per-record seconds of the real ``texgrad batch`` (start-up subtracted)."""
    with tempfile.TemporaryDirectory() as tmp:
        one, many = Path(tmp, "one.jsonl"), Path(tmp, "many.jsonl")
        one.write_bytes(record_of(cases[0]))
        many.write_bytes(b"".join(record_of(c) for c in cases) * repeat)
        n = len(cases) * repeat

        def run(path):
            out = Path(tmp, "out.jsonl")
            if out.exists():
                out.unlink()
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "texgrad", "batch", str(path), "-o", str(out)],
                           check=False, stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            t = time.perf_counter() - t0
            lines = out.read_text(encoding="utf-8").splitlines() if out.exists() else []
            return t, lines
        t1 = min(run(one)[0] for _ in range(3))
        tn, lines = run(many)
        ok = sum(1 for line in lines if json.loads(line).get("ok"))
        return (tn - t1) / (n - 1), n, len(lines), ok


def claim_times(claims):
    out = []
    for c in claims:
        shapes = shapes_of(c)

        def call(c=c, shapes=shapes):
            texgrad.check_claim(c["claim"], shapes=shapes, assume=assume_of(c))
        out.append(statistics.median(timed(call) for _ in range(3)))
    return out


def lsp_work_times(cases):
    """The language server's work for a first hover, in its worker's warm process
    (``lspwork.hover``: the document scanned, the formula derived, checked, printed)."""
    from texgrad import lspwork
    lspwork.hover("$$\\frac{\\partial}{\\partial x} x^2$$\n", "md", 3)
    out = []
    for c in cases:
        text = f"$$\\frac{{\\partial}}{{\\partial {c['wrt']}}} {c['latex']}$$\n"
        lspwork.HOVERS.clear()
        out.append(timed(lambda: lspwork.hover(text, "md", 3)))
    return out


def lsp_times(cases):
    try:
        import pygls  # noqa: F401
    except ImportError:
        return None
    from lspclient import Client
    client = Client(env={"PYTHONDONTWRITEBYTECODE": "1"})
    try:
        client.initialize()
        client.open("file:///warm.md", "$$\\frac{\\partial}{\\partial x} x^2$$", "markdown")
        client.request("textDocument/hover", {"textDocument": {"uri": "file:///warm.md"},
                                              "position": {"line": 0, "character": 4}})
        first, again = [], []
        for i, c in enumerate(cases):
            uri = f"file:///case{i}.md"
            text = f"$$\\frac{{\\partial}}{{\\partial {c['wrt']}}} {c['latex']}$$\n"
            client.open(uri, text, "markdown")
            client.diagnostics(uri)          # the document checked (the other worker)
            params = {"textDocument": {"uri": uri}, "position": {"line": 0, "character": 3}}
            first.append(timed(lambda: client.request("textDocument/hover", params)))
            again.append(statistics.median(
                timed(lambda: client.request("textDocument/hover", params)) for _ in range(3)))
        return first, again
    finally:
        client.close()


def serve_times(cases):
    """The playground's JSON endpoint: a real ``texgrad serve --port 0``, one keep-alive
    connection, the first request of each formula and a repeated one (not kept: derived
    again)."""
    import http.client
    proc = subprocess.Popen([sys.executable, "-m", "texgrad", "serve", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL, text=True)
    try:
        port = int(proc.stdout.readline().split()[2].rstrip("/").rsplit(":", 1)[1])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

        def ask(c):
            body = json.dumps({"latex": c["latex"], "wrt": c["wrt"], "kind": c["kind"],
                               "shapes": " ".join(f"{n}={','.join(map(str, v['shape']))}"
                                                  for n, v in c["symbols"].items())})
            conn.request("POST", "/api/derive", body, {"Content-Type": "application/json"})
            conn.getresponse().read()
        ask(cases[0])
        out = [timed(lambda c=c: ask(c)) for c in cases]
        conn.close()
        return out
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def line(name: str, values, base: float) -> None:
    med = ms(statistics.median(values))
    verdict = "MET" if med <= TARGET_MS else "NOT MET"
    print(f"{name:28s} {med:8.2f} {ms(max(values)):8.2f} {med / base:9.2f}   "
          f"<= {TARGET_MS:g} ms: {verdict}")


def main() -> int:
    cases = load("cases.jsonl")
    claims = load("claims.jsonl")
    repeat = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    base = ms(statistics.median(fd_baseline(c) for c in cases))
    first, steady = api_times(cases)
    records = record_times(cases)
    per_record, n, written, ok = batch_cli(cases, repeat)
    claimed = claim_times(claims)
    work = lsp_work_times(cases)
    hover = lsp_times(cases)
    served = serve_times(cases)
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, texgrad "
          f"{texgrad.__version__}; {len(cases)} cases, {len(claims)} claims; "
          f"{os.cpu_count()} CPUs")
    print(f"baseline: central differences of the corpus's NumPy f, median {base:.2f} ms\n")
    print(f"{'per formula':28s} {'median':>8s} {'max':>8s} {'x finite':>9s}")
    print(f"{'':28s} {'ms':>8s} {'ms':>8s} {'diff.':>9s}")
    line("api, first call", first, base)
    line("api, median of 5", steady, base)
    line("batch record (in process)", records, base)
    line(f"texgrad batch ({n} records)", [per_record], base)
    line("claim (check_claim)", claimed, base)
    line("lsp worker, first hover", work, base)
    if hover is None:
        print("lsp hover: skipped (pygls is not installed: pip install '.[lsp]')")
    else:
        line("lsp hover, first (round trip)", hover[0], base)
        line("lsp hover, repeated", hover[1], base)
    line("serve /api/derive (round trip)", served, base)
    print(f"\ntexgrad batch wrote {written} of {n} records, {ok} ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
