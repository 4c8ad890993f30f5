"""claimrows: one display's body cut into statements, every offset kept."""

from __future__ import annotations

import pytest

from texgrad.claimrows import rows, statements


def texts(pieces):
    return [" ".join(p.text.split()) for p in pieces]


@pytest.mark.parametrize("body, want", [
    (r"a &= b \\ &= c", ["a = b = c"]),                         # a row starting with '='
    (r"a = b \cr c = d", ["a = b", "c = d"]),
    (r"f(x) = x^2 \implies f'(x) = 2x", ["f(x) = x^2", "f'(x) = 2x"]),
    (r"\Rightarrow a = b", ["a = b"]),
    (r"f(X) := X", ["f(X) = X"]),
    (r"y = x \tag{3}\label{eq:y}", ["y = x"]),
    (r"y = \boxed{x + 1}", ["y = x + 1"]),
    (r"y = 2x \quad x \in \mathbb{R}^n", ["y = 2x"]),
    (r"y = 2x \;\text{for all } x", ["y = 2x"]),
    (r"y = \text{tr}(X)", [r"y = \text{tr}(X)"]),                # a function, not prose
    (r"\begin{array}{rl} a &= b\\ &\,= c\end{array}", [r"a = b \,= c"]),
    (r"\eqalign{a &= b \cr &= c}", ["a = b = c"]),
])
def test_rows(body, want):
    assert texts(rows(body)) == want


def test_offsets_are_kept():
    body = r"x &= \boxed{y}"
    for p in rows(body, 100):
        i = p.text.index("y")
        assert body[p.offset - 100 + i] == "y"


def test_statements_lines_are_displays_unless_continued():
    text = "f(W) = W^2\n\\nabla f(W) = 2W\n= 2 W"
    assert texts(statements(text)) == ["f(W) = W^2", "\\nabla f(W) = 2W = 2 W"]
    text = "\\begin{align*}\na &= b\n= c \\\\\n&= d\n\\end{align*}"
    assert texts(statements(text)) == ["a = b = c = d"]


def test_a_matrix_or_cases_keeps_its_rows():
    body = r"\nabla f = \begin{bmatrix} a \\ b \end{bmatrix} \\ g = 2"
    assert texts(rows(body)) == [r"\nabla f = \begin{bmatrix} a \\ b \end{bmatrix}", "g = 2"]
