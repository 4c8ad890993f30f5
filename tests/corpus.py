"""The corpus (tests/data/cases.jsonl, copied from shared/corpus) and an independent way to
draw values for its cases: sizes distinct per dimension name, values honouring assumptions."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

DATA = Path(__file__).parent / "data"


def load(name: str = "cases.jsonl") -> list[dict]:
    with open(DATA / name, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def sizes_for(case: dict, base: int = 3) -> dict:
    names = []
    for spec in case["symbols"].values():
        for d in spec["shape"]:
            if d not in names:
                names.append(d)
    return {d: base + i for i, d in enumerate(names)}


def draw(case: dict, rng: np.random.Generator, sizes: dict | None = None) -> dict:
    sizes = sizes or sizes_for(case)
    out = {}
    for name, spec in case["symbols"].items():
        shape = tuple(sizes[d] for d in spec["shape"])
        a = set(spec.get("assume", []))
        cplx = "complex" in a
        def normal(s):
            x = rng.standard_normal(s)
            return x + 1j * rng.standard_normal(s) if cplx else x
        if "spd" in a:
            m = rng.standard_normal(shape)
            v = m @ m.T / shape[0] + 0.5 * np.eye(shape[0])
        elif "orthogonal" in a:
            q, r = np.linalg.qr(rng.standard_normal(shape))
            v = q
        elif "positive" in a:
            v = rng.uniform(0.5, 1.5, shape)
        else:
            v = normal(shape)
            if "symmetric" in a:
                v = (v + v.T) / 2
            if "invertible" in a:
                v = v + np.sqrt(shape[0]) * np.eye(shape[0])
        if shape == ():
            v = v.item() if hasattr(v, "item") else v
        out[name] = v
    return out


def numpy_eval(expr: str, values: dict):
    """Evaluate a corpus reference expression (trusted test data, never user input)."""
    env = {"np": np, "__builtins__": {"range": range, "sum": sum, "len": len, "abs": abs}}
    env.update(values)
    return eval(expr, env)


def shapes_of(case: dict) -> dict:
    return {name: tuple(spec["shape"]) for name, spec in case["symbols"].items()}


def assume_of(case: dict) -> dict:
    return {name: tuple(spec["assume"]) for name, spec in case["symbols"].items()
            if spec.get("assume")}


def explain(r) -> str:
    """A failed assertion's message: the formula, the derivative texgrad printed and its
    stamp (which says how far the check was off), rather than a Check repr."""
    return f"\nformula:    {r.input}\nby:         {r.wrt}\nderivative: {r.latex}\nstamp:      {r.stamp}"
