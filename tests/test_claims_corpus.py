"""The claims corpus (tests/data/claims.jsonl, copied from shared/corpus): 58 derivative claims
copied exactly as printed in real texts, each with its verdict and NumPy for the printed
answer.  Every claim is decided twice: with the corpus's shapes and assumptions, and with
nothing but the text (shapes from the prose or inferred).  A decided verdict must be the
corpus's, always; the share decided is a floor that only rises (issue 11)."""

from __future__ import annotations

import pytest

import texgrad
from corpus import load

CLAIMS = load("claims.jsonl")

# the share of the corpus decided (ratchet: raise it as readings land, never lower it)
# "shapes"/"inferred": in the corpus's convention (FORMAT.md: a gradient has the shape of its
# variable, a Jacobian is D[f-index, variable-index]: texgrad's `mixed` layout); "-plain": as a
# user calls check_claim, stating no layout (an answer right only transposed is then its own
# status, `transposed`, undecided)
MODES = ["shapes", "inferred", "shapes-plain", "inferred-plain"]
FLOOR = {"shapes": 58, "inferred": 51, "shapes-plain": 55, "inferred-plain": 49}


def _declared(case):
    shapes = {n: tuple(s["shape"]) for n, s in case["symbols"].items()}
    # every symbol's assumptions are stated, the empty list included: A with no assumption
    # is a general matrix, not one of unknown structure
    assume = {n: tuple(s.get("assume", ())) for n, s in case["symbols"].items()}
    return shapes, assume


def _decide(case, mode):
    layout = None if mode.endswith("-plain") else "mixed"
    if mode.startswith("shapes"):
        shapes, assume = _declared(case)
        return texgrad.check_claim(case["claim"], shapes=shapes, assume=assume, layout=layout)
    return texgrad.check_claim(case["claim"], layout=layout)


_RESULTS: dict = {}


def _result(case, mode):
    key = (case["id"], mode)
    if key not in _RESULTS:
        _RESULTS[key] = _decide(case, mode)
    return _RESULTS[key]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", CLAIMS, ids=[c["id"] for c in CLAIMS])
def test_a_decided_verdict_is_the_corpus_verdict(case, mode):
    r = _result(case, mode)
    if r.verdict is not None:
        assert r.verdict == case["verdict"], (
            f"\nclaim:   {case['claim']}\nverdict: {r.verdict} (corpus: {case['verdict']})"
            f"\nreason:  {r.reason}\ntexgrad: {r.derivative_latex}")


@pytest.mark.parametrize("mode", MODES)
def test_the_share_decided_does_not_fall(mode):
    results = {c["id"]: _result(c, mode) for c in CLAIMS}
    undecided = {k: r.reason for k, r in results.items() if r.verdict is None}
    decided = len(CLAIMS) - len(undecided)
    assert decided >= FLOOR[mode], "\n".join(f"{k}: {v}" for k, v in undecided.items())
