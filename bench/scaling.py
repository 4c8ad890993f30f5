"""How derivation time grows with the expression (not with matrix sizes).

Times texgrad.differentiate (no numeric check) on
  - sums of k quadratic forms  x^T A_1 x + ... + x^T A_k x : gradient and Hessian,
  - products of k factors      a^T X_1 X_2 ... X_k b       : gradient by X_1,
for k = 1, 10, 100 (and 1000 with --large), and prints the fitted log-log slope of time
against k (1.0 = linear).  Run: python bench/scaling.py [--large]
"""

from __future__ import annotations

import math
import sys
import time

import texgrad


def quad_sum(k: int) -> str:
    return " + ".join(rf"\mathbf{{x}}^\top A_{{{i}}}\mathbf{{x}}" for i in range(1, k + 1))


def product(k: int) -> str:
    return r"\mathbf{a}^\top " + " ".join(f"X_{{{i}}}" for i in range(1, k + 1)) + r"\mathbf{b}"


def timed(fn, repeat: int = 3) -> float:
    best = math.inf
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def slope(ks, ts) -> float:
    xs = [math.log(k) for k in ks]
    ys = [math.log(t) for t in ts]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)


def main() -> None:
    ks = [1, 10, 100] + ([1000] if "--large" in sys.argv else [])
    sys.setrecursionlimit(100000)
    cases = [
        ("gradient of k quadratic forms", quad_sum, r"\mathbf{x}", "gradient"),
        ("Hessian of k quadratic forms", quad_sum, r"\mathbf{x}", "hessian"),
        ("gradient of a product of k factors", product, "X_1", "gradient"),
    ]
    print(f"{'case':<38}" + "".join(f"{'k=' + str(k):>12}" for k in ks) + f"{'slope':>8}")
    for name, make, wrt, kind in cases:
        ts = []
        for k in ks:
            tex = make(k)
            ts.append(timed(lambda: texgrad.differentiate(tex, wrt=wrt, kind=kind,
                                                          verify=False)))
        print(f"{name:<38}" + "".join(f"{t * 1000:>10.2f}ms" for t in ts) +
              f"{slope(ks, ts):>8.2f}")
    r = texgrad.differentiate(quad_sum(3), wrt=r"\mathbf{x}", kind="hessian")
    print(f"\nk=3 Hessian: {r.latex}  (verified: {r.check.passed})")


if __name__ == "__main__":
    main()
