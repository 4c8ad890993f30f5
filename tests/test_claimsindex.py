"""claimsindex: members of a chain in index notation, read as the matrices of their entries."""

from __future__ import annotations

import pytest

import texgrad
from texgrad.claimsindex import entry_indices, rewrite_members


def test_the_entry_asked_for_is_the_denominator_of_a_member():
    line = r"\frac{\partial}{\partial X} f = \frac{\partial X_{ii}}{\partial X_{kl}}"
    assert entry_indices(line) == ("X", ("k", "l"))
    assert entry_indices(r"\frac{\partial}{\partial X} \tr(X) = I") is None


def test_members_are_rewritten():
    line = (r"\frac{\partial}{\partial X} \tr(X^T A) = \frac{\partial (X_{ij}^T A_{ji})}"
            r"{\partial X_{kl}} = \frac{\partial X_{ji}}{\partial X_{kl}} A_{ji} = A_{kl}")
    members = [r"\frac{\partial (X_{ij}^T A_{ji})}{\partial X_{kl}}",
               r"\frac{\partial X_{ji}}{\partial X_{kl}} A_{ji}", "A_{kl}"]
    out, fresh = rewrite_members(line, members, {"X", "A"})
    assert fresh == "Xi"
    assert out[0] == r"\frac{\partial}{\partial X} \sum_{ij} (X_{ji} A_{ji})"   # (X^T)_ij
    assert out[1] == r"\frac{\partial}{\partial \Xi} \sum_{klij} \Xi_{kl} \delta_{jk}\delta_{il} A_{ji}"
    assert out[2] == r"\frac{\partial}{\partial \Xi} \sum_{kl} \Xi_{kl} A_{kl}"


@pytest.mark.parametrize("chain, verdict", [
    # tr(X^T A) = sum_ij X_ij A_ij: its gradient is A (entry (k, l) is A_kl)
    (r"= \frac{\partial (X_{ij}^T A_{ji})}{\partial X_{kl}} = \delta_{jk}\delta_{il}A_{ji}"
     r" = A_{kl} = A", True),
    (r"= \frac{\partial (X_{ij}^T A_{ji})}{\partial X_{kl}} = A_{lk}", False),
    (r"= \frac{\partial (X_{ij} A_{ji})}{\partial X_{kl}} = A", False),
])
def test_index_chains_are_decided(chain, verdict):
    r = texgrad.check_claim(r"\frac{\partial}{\partial X} \tr(X^T A) " + chain)
    assert r.verdict is verdict, r.reason
