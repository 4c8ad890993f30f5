"""A document's layout, and the verdicts of its transposed answers.

texgrad lays a gradient out like its variable (``\\partial(a^T x)/\\partial x = a``, a column;
``\\partial f/\\partial X`` X-shaped: the denominator layout) and a Jacobian, or a derivative
by a scalar, like the function (``\\partial(Ax)/\\partial x = A``: the numerator layout), the
mixed layout.  A document in another layout prints transposes.  Its layout is decided once:
by ``--layout`` (API ``layout=``), else by what its prose says ("we use the numerator
layout", "Jacobian formulation", "the gradient as a row vector"), else by the majority of its
decided claims whose two orientations differ (``ClaimResult.layout_vote``).  Then ``settle``
turns each claim's orientation into a verdict: a transposed answer in the document's layout
is ``ok`` with a note, an answer transposed against it is ``wrong``, and without evidence a
transposed answer is ``transposed`` ("right only in the transposed layout").
"""

from __future__ import annotations

import re

from .claimsverdict import MIN_COMPARED, MIN_SIZE_SETS, ClaimResult

LAYOUTS = ("auto", "numerator", "denominator", "mixed")
OTHER = {"numerator": "denominator", "denominator": "numerator"}

# what each layout lays out how (the gradient of a scalar; a Jacobian or a derivative by a
# scalar): "numerator" | "denominator", the orientation a printed answer votes for
_EXPECTS = {"numerator": ("numerator", "numerator"),
            "denominator": ("denominator", "denominator"),
            "mixed": ("denominator", "numerator")}

_WHY = {"prose": "as its prose says", "majority": "as most of its claims are laid out",
        "option": "--layout"}

# ------------------------------------------------------------------ what the prose says

# a named layout; a gradient said to be a row (numerator) or a column (denominator)
_NAMED = re.compile(
    r"\b(?P<name>numerator|denominator|mixed)[- ]layout\b|"
    r"\b(?P<form>jacobian|hessian)[- ]formulation\b|"
    r"\bgradients?\b(?:(?!\bgradients?\b)[^.;:$]){0,40}?\b(?P<vec>row|column)[- ]vectors?\b",
    re.I)
# said as the text's own choice: "we use / adopt / follow", "in this paper", "throughout"
_USE = re.compile(r"\b(?:we|I|us|our|these notes|this (?:paper|note|post|article|document|"
                  r"section|chapter|book|text)|throughout|here)\b|\b(?:use[sd]?|using|adopts?|"
                  r"adopted|follows?|following|employ(?:s|ed)?|work(?:ing)? in|written in|"
                  r"stick to|choose|chosen|prefer)\b", re.I)
_NOT = re.compile(r"\b(?:not|instead of|rather than|unlike|as opposed to|versus|vs\.?|other "
                  r"than|or|nor)\s+(?:the\s+|a\s+|an\s+)?$|\b(?:not|never|if|would|could|some|"
                  r"others?|many|alternative(?:ly)?|unlike)\b", re.I)


def _layout_named(m) -> str:
    if m.group("name"):
        return m.group("name").lower()
    if m.group("form"):
        return "numerator" if m.group("form").lower() == "jacobian" else "denominator"
    return "numerator" if m.group("vec").lower() == "row" else "denominator"


def prose_layout(text: str) -> tuple[str | None, str]:
    """(the layout the prose says the text uses, the words saying it), or (None, "") when it
    names none, or several with nothing to choose between them.  A layout named in a phrase
    of choice ("we use the numerator layout", "in this paper ... denominator layout") wins
    over one merely mentioned; one after "not", "rather than", "instead of" is discounted."""
    strong: dict = {}
    weak: dict = {}
    prev = 0
    for m in _NAMED.finditer(text):
        start = max(prev, m.start() - 120)
        before = text[start:m.start()]
        cut = max(before.rfind("."), before.rfind(";"), before.rfind("\n\n"))
        before = before[cut + 1:] if cut >= 0 else before
        prev = m.end()
        name = _layout_named(m)
        if _NOT.search(before):
            continue
        after = text[m.end():m.end() + 40].split(".")[0]
        if re.match(r"\s*(?:instead|would|could)\b", after, re.I):
            continue
        (strong if _USE.search(before) or re.match(r"\s*(?:is|are)\s+used\b", after)
         else weak).setdefault(name, " ".join(m.group(0).split()))
    for found in (strong, weak):
        if len(found) == 1:
            name, words = next(iter(found.items()))
            return name, words
        if found:
            return None, ""
    return None, ""


# ------------------------------------------------------------------ the document's layout

def _votes(results: list) -> dict:
    """Each decided claim whose two orientations differ: the gradient of a scalar votes for
    the layout its answer is laid out in; a Jacobian votes only when transposed (the
    denominator layout): laid out like the function it fits the numerator and the mixed
    layout alike."""
    votes = {"numerator": 0, "denominator": 0}
    for r in results:
        if r.statement or not r.layout_vote or r.verdict is None:
            continue
        if r.verdict is False and r.convention != "transposed":
            continue
        if r.form == "gradient" or r.convention == "transposed":
            votes[r.layout_vote] += 1
    return votes


def document_layout(results: list, prose: str, option: str | None = "auto"):
    """(layout or None, source, note): from ``option`` unless "auto", else the prose, else
    the majority of the votes (at least two, and more for one layout than the other)."""
    if option and option != "auto":
        return option, "option", f"--layout {option}"
    name, words = prose_layout(prose or "")
    if name:
        return name, "prose", f'its prose says "{words}"'
    votes = _votes(results)
    n, d = votes["numerator"], votes["denominator"]
    if n + d >= 2 and n != d:
        name = "numerator" if n > d else "denominator"
        return name, "majority", (f"{max(n, d)} of its {n + d} claims whose layouts differ "
                                  "are laid out so")
    return None, "none", ""


# ------------------------------------------------------------------ the verdicts

def _expected(layout: str, r: ClaimResult) -> str:
    grad, jac = _EXPECTS[layout]
    return grad if r.form == "gradient" else jac


def _enough(r: ClaimResult) -> bool:
    return r.compared >= MIN_COMPARED and len(r.sizes) >= MIN_SIZE_SETS


def _settle_one(r: ClaimResult, layout: str | None, source: str, note: str) -> None:
    vote = r.layout_vote
    transposed = r.convention == "transposed" and r.verdict is False
    if not vote or r.statement or not (transposed or r.verdict is True):
        return
    if layout is None:
        if transposed:
            r.verdict = None
            what = "gradient" if r.form == "gradient" else "derivative"
            r.reason = (f"right only in the transposed layout (the {vote} layout, which lays "
                        f"this {what} out transposed); the document does not say which "
                        f"layout it uses (--layout {vote} accepts it)")
        return
    want = _expected(layout, r)
    if vote == want:
        if transposed:
            if not _enough(r):
                r.verdict = None
                r.reason = (f"not verified: it agrees in the {vote} layout, but only at "
                            f"{r.compared} point(s) at {len(r.sizes)} size set(s)")
                return
            r.verdict = True
            r.reason = (f"right in the {vote} layout, the document's ({note}); texgrad lays "
                        f"it out transposed: {r.derivative_latex}")
        return
    if not transposed and source == "majority" and r.form != "gradient":
        return      # a Jacobian laid out like its function fits the mixed layout as well
    r.verdict = False
    if transposed:
        r.reason = (f"printed transposed: the document uses the {layout} layout ({note}), in "
                    f"which this derivative is {r.derivative_latex}, not its transpose")
    else:
        r.derivative_latex = _transpose_text(r.derivative_latex)
        r.reason = (f"printed in the {vote} layout (texgrad's own), against the document's "
                    f"{layout} layout ({note}), which lays this derivative out transposed")


def _transpose_text(latex: str | None) -> str | None:
    """``a`` -> ``a^{T}``, ``ub^{T}`` -> ``\\left(ub^{T}\\right)^{T}``: the derivative in the
    document's layout, as the report prints it."""
    if not latex:
        return latex
    if re.fullmatch(r"\\?[A-Za-z]+|\\math(?:bf|rm|it|cal)\{\\?\w+\}|\\boldsymbol\{\\?\w+\}",
                    latex.strip()):
        return latex.strip() + "^{T}"
    return f"\\left({latex.strip()}\\right)^{{T}}"


def settle(results: list, layout: str | None, source: str, note: str,
           redecide=None) -> list:
    """Each claim's verdict in the document's layout (in place; the list returned).
    ``redecide(result)``: the claim decided again with its printed answers transposed, for a
    claim right only under an unstated assumption (``conditional``), which may be right as
    printed in the document's layout."""
    for r in results:
        r.layout, r.layout_source = layout, source
        _settle_one(r, layout, source, note)
        if layout and r.status == "conditional" and redecide is not None:
            again = redecide(r)
            # the transposes right in texgrad's layout: the answer is right in the other one
            if again is not None and again.verdict is True and again.layout_vote and \
                    _expected(layout, again) == OTHER[again.layout_vote] and _enough(again):
                r.verdict, r.condition, r.convention = True, "", "transposed"
                r.layout_vote = OTHER[again.layout_vote]
                r.form = again.form
                r.derivative_latex = r.derivative_latex or again.derivative_latex
                r.reason = (f"right in the {r.layout_vote} layout, the document's ({note}); "
                            f"texgrad lays it out transposed")
    return results


def transposed_claim(claim: str, members: list) -> str:
    """``lhs = (G_1)^{T} = (G_2)^{T}``: a claim with its printed answers transposed."""
    return " = ".join([members[0]] + [f"\\left({m.strip()}\\right)^{{T}}"
                                      for m in members[1:]])
