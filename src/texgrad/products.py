"""Products: a run of juxtaposed factors read the way an author means it, heads
(\\sin x, \\operatorname{tr} X Y) applied to their arguments, and the derivative operators
(\\frac{\\partial}{\\partial X}, \\frac{d^2 f}{dx^2}) made from their fractions.
"""

from __future__ import annotations

from .errors import LimitError, ParseError, Unsupported
from .syntax import CHAIN_HEADS, MAX_HEADS, N, is_transpose_mark, unwrap_postfix


def _rewrap(node: N, posts) -> N:
    for op, payload, end in posts:
        node = N(op, (node, payload), node.start, max(end, node.end))
    return node


def _is_dop(n: N) -> bool:
    base, _ = unwrap_postfix(n)
    return base.op in ("dop", "nabla")


def _is_prime(op: str, payload: N) -> bool:
    return op == "sup" and payload.op == "tmark" and payload.args[0] == "'"


def _make_call(head: N, hposts, arg: N, end: int) -> N:
    name, latex = head.args
    primes = 0
    while hposts and _is_prime(*hposts[0][:2]):     # \sigma'(z), \tanh'(x): the derivative
        primes += 1
        hposts = hposts[1:]
    node = N("call", (name + "'" * primes, latex, arg), head.start, end)
    # \sin^2 x is (\sin x)^2; \log_2 x is not supported (a subscript on a function)
    for op, payload, pend in hposts:
        if op == "subscript":
            raise ParseError(f"a subscript on {latex} is not supported",
                             hint="write \\log for the natural logarithm")
        node = N("sup", (node, payload), node.start, node.end)
    return node


def resolve_product(items: list, source: str) -> N:
    """Give functions written without parentheses and derivative operators their arguments.

    Right to left: a function followed by a parenthesised group takes that group (and a
    postfix after the group applies to the result: tr(X)^2); otherwise tr, det and logdet take
    the rest of the product (\\operatorname{tr} X^T A X), other functions the next factor
    (\\sin t).  A derivative operator takes the rest of the product.  ``a / b`` divides by the
    next factor only.
    """
    if len(items) == 1 and items[0].op == "op" and items[0].args[0] == "star":
        return N("star", (), items[0].start, items[0].end)      # x^{*}
    out: list = []          # resolved factors, rightmost first
    heads = 0
    for it in reversed(items):
        base, posts = unwrap_postfix(it)
        is_sigma = (base.op == "sym" and base.args[0] == "sigma" and base.args[1] == "\\sigma"
                    and all(_is_prime(op, p) for op, p, _ in posts) and out and
                    _paren_led(out[-1]))
        if out and _paren_led(out[-1]) and _extreme_value(base, posts):
            word = _letters(posts[0][1])
            raise Unsupported(f"{base.args[1]}_{{{word}}}(\\cdot), the {word}imum eigenvalue or "
                              "singular value, is not supported",
                              hint="texgrad has no rules for eigenvalues or singular values "
                                   "(for a symmetric X and a simple eigenvalue with unit "
                                   "eigenvector v, d\\lambda = v^T dX v)"
                              ).at(source, it.start, out[-1].end - it.start)
        if _applied_letter(base, posts, out):
            # f(W\mathbf{x}), g'(z): a letter that names a function, applied (the Typer
            # reads it as a product after all when the letter is declared a symbol)
            inner, nposts = unwrap_postfix(out[-1])
            primes = len(posts)
            out[-1] = _rewrap(N("fcall", (base.args[0], base.args[1], primes, inner.args[0],
                                          it, inner), it.start, inner.end), nposts)
            continue
        if base.op == "head" or is_sigma:
            heads += 1
            if heads > MAX_HEADS:
                raise LimitError(f"more than {MAX_HEADS} functions without parentheses in "
                                 "one product").at(source, it.start)
            head = base if base.op == "head" else N("head", ("sigma", "\\sigma"), base.start,
                                                    base.end)
            name = head.args[0]
            if not out and name in ("max", "min") and len(items) == 1:
                return N("sym", (name, "\\" + name, "plain"), it.start, it.end)  # x_{\max}
            if not out:
                raise ParseError(f"{head.args[1]} needs an argument",
                                 hint=f"write {head.args[1]}(X)").at(source, it.end)
            nxt = out[-1]
            if _paren_led(nxt):
                inner, nposts = unwrap_postfix(nxt)
                call = _make_call(head, posts, inner if inner.op == "pair" else
                                  inner.args[0], inner.end)
                out[-1] = _rewrap(call, nposts)
            elif name in CHAIN_HEADS or (len(out) > 1 and _transposed(nxt)):
                # \log \mathbf{1}^T e^{\mathbf{z}}, \exp \mathbf{a}^T\mathbf{x}: a transposed
                # factor only makes sense in the product after it, which the function takes
                arg = _product_node(list(reversed(out)))
                out = [_make_call(head, posts, arg, arg.end)]
            else:
                out[-1] = _make_call(head, posts, nxt, nxt.end)
        elif base.op in ("dop", "nabla") and not (base.op == "dop" and base.args[2] is not None):
            if not out:
                raise ParseError("a derivative operator needs something to differentiate",
                                 hint="write it in front of the function, e.g. "
                                      "\\frac{\\partial}{\\partial X} f").at(source, it.end)
            arg = _product_node(list(reversed(out)))
            out = [N("request", (it, arg), it.start, arg.end)]
        elif base.op == "sumop":
            if not out:
                raise ParseError("\\sum needs a summand").at(source, it.end)
            arg = _product_node(list(reversed(out)))
            out = [N("isum", (it, arg), it.start, arg.end)]
        elif it.op == "op":
            if it.args[0] == "slash":
                if not out:
                    raise ParseError("'/' needs a denominator after it").at(source, it.end)
                out[-1] = N("recip", (out[-1],), it.start, out[-1].end)
            # \cdot and \times multiply, as juxtaposition does
        else:
            out.append(it)
    if not out:
        raise ParseError("nothing to multiply").at(source, items[0].start)
    return _product_node(list(reversed(out)))


def _product_node(factors: list) -> N:
    if len(factors) == 1:
        return factors[0]
    return N("product", tuple(factors), factors[0].start, factors[-1].end)


def _letters(n: N) -> str:
    """The letters of a subscript (``max`` of ``_{max}``, ``_{\\max}``, ``_{\\text{max}}``)."""
    if n.op == "sym":
        return n.args[0]
    return "".join(_letters(a) for a in n.args if isinstance(a, N)) if n.op == "product" \
        else ""


def _extreme_value(base: N, posts) -> bool:
    """``\\lambda_{\\max}``, ``\\sigma_{min}``: an eigenvalue or a singular value, by name."""
    return (base.op == "sym" and base.args[0] in ("lambda", "sigma") and len(posts) == 1
            and posts[0][0] == "subscript" and _letters(posts[0][1]) in ("max", "min"))


def _applied_letter(base: N, posts, out: list) -> bool:
    """A plain letter that names a function (:data:`FUNCTION_LETTERS`), primed at most,
    before a parenthesised group."""
    from .functions import FUNCTION_LETTERS
    if not (out and base.op == "sym" and base.args[0] in FUNCTION_LETTERS and
            base.args[2] == "plain"):
        return False
    if not all(_is_prime(op, p) for op, p, _ in posts):
        return False
    inner, nposts = unwrap_postfix(out[-1])
    return inner.op == "paren" and inner.args[1] in ("(", "\\left(") and \
        all(op == "sup" for op, _, _ in nposts)


def _transposed(n: N) -> bool:
    """Whether a factor ends in a transpose mark (``\\mathbf{a}^T``, ``x^\\top``)."""
    _base, posts = unwrap_postfix(n)
    if not posts or posts[-1][0] != "sup":
        return False
    return is_transpose_mark(posts[-1][1])


def _paren_led(n: N) -> bool:
    base, posts = unwrap_postfix(n)
    return base.op in ("paren", "brace", "pair") and all(op == "sup" for op, _, _ in posts)


def _dmark(n: N):
    """The derivative mark leading ``n``: ('partial'|'d', order) or None."""
    base, posts = unwrap_postfix(n)
    if base.op == "sym" and base.args[:2] == ("delta", "\\delta") and not posts:
        return "delta", 1           # \frac{\delta}{\delta X}: the variational notation
    if base.op == "partial" or base.op == "dmark" or (base.op == "sym" and
                                                       base.args[0] == "d" and
                                                       base.args[1] == "d"):
        order = 1
        for op, payload, _ in posts:
            if op == "sup" and payload.op == "num":
                order = int(payload.args[0])
        return ("partial" if base.op == "partial" else "d"), order
    return None


def derivative_frac(node: N, source: str):
    """\\frac{\\partial f}{\\partial X}, \\frac{\\partial}{\\partial X}, \\frac{d}{dx},
    \\frac{\\partial^2 f}{\\partial x \\partial x^T}: a derivative operator ``dop``
    (order, variables, inline function or None)."""
    num, den = node.args
    nitems = list(num.args) if num.op == "product" else [num]
    ditems = list(den.args) if den.op == "product" else [den]
    mark = _dmark(nitems[0])
    if mark is None or _dmark(ditems[0]) is None:
        return None
    kind, order = mark
    if kind == "delta" and _dmark(ditems[0])[0] != "delta":
        return None
    # the denominator: a mark before each variable, \partial x \partial x^T, or \partial x^2
    wrt = []
    cur: list = []
    for it in ditems:
        m = _dmark(it)
        if m is not None and m[0] == kind:
            if cur:
                wrt.append(_product_node(cur))
            cur = []
            continue
        cur.append(it)
    if cur:
        wrt.append(_product_node(cur))
    if not wrt:
        raise ParseError("the derivative names no variable",
                         hint="write \\partial X in the denominator").at(source, den.start)
    f = _product_node(nitems[1:]) if len(nitems) > 1 else None
    return N("dop", (order, tuple(wrt), f, "partial" if kind == "delta" else kind),
             node.start, node.end)

