"""The elementwise functions: one :class:`~texgrad.ir.FunctionSpec` record per function.

A record says everything texgrad knows of a function, in one place (the pattern of JAX's
``lax.py``, where a primitive and its rules are declared together): how authors spell it,
how it prints, its derivative, its NumPy evaluation, the code each ``--emit`` target writes,
how it meets complex conjugation and what it folds to at exact constants.  Every stage
reads the record from the node (``ir.Func.spec``); none keeps a list of function names, so
adding a function is adding one record here (or calling :func:`register`), and a name with
no record is not a function: ``\\operatorname{foo}(x)`` is refused with a caret by the
parser instead of being read as a symbol ``foo`` times ``x``.

The derivative is ``derivative(c, x, fx)``: ``c`` is the module of canonical constructors
(:mod:`texgrad.construct`, passed in by the rules so this module imports nothing above the
IR), ``x`` the argument and ``fx`` the node ``f(x)`` itself (``exp' = exp``).  It returns
f'(x) with the shape of ``x``: elementwise for arrays, a scalar for scalars.  The NumPy
evaluation is ``numpy(np, v)`` for the same reason (``np`` is passed in; this module does
not import NumPy, which keeps the parser's start-up light).

Non-elementwise heads (``\\operatorname{tr}``, ``\\det``, ``\\operatorname{diag}``,
softmax, ...) are operators with IR nodes of their own; their spellings are in
:data:`texgrad.syntax.OPERATORS`.
"""

from __future__ import annotations

from fractions import Fraction

from .ir import SCALAR, FunctionSpec

BY_NAME: dict = {}          # canonical name -> FunctionSpec
BY_SPELLING: dict = {}      # a word as written (after \ or in \operatorname{}) -> FunctionSpec


def register(spec: FunctionSpec) -> FunctionSpec:
    """Make ``spec`` known to every stage (its spellings to the parser).  Returns it."""
    taken = [w for w in spec.spellings if w in BY_SPELLING and BY_SPELLING[w] is not spec]
    if spec.name in BY_NAME and BY_NAME[spec.name] is not spec or taken:
        raise ValueError(f"the function {spec.name!r} or a spelling of it "
                         f"({', '.join(taken)}) is registered already")
    BY_NAME[spec.name] = spec
    for w in spec.spellings:
        BY_SPELLING[w] = spec
    return spec


def unregister(spec: FunctionSpec) -> None:
    """Forget ``spec`` (for tests that register a function of their own)."""
    if BY_NAME.get(spec.name) is spec:
        del BY_NAME[spec.name]
    for w in spec.spellings:
        if BY_SPELLING.get(w) is spec:
            del BY_SPELLING[w]


def elementwise(name: str, *, spellings=(), latex: str, derivative, numpy, code: dict,
                ufunc: bool = False, real: bool = True, real_valued: bool = False,
                exact=None, matrix_function: bool = False) -> FunctionSpec:
    """Declare and register an elementwise function (see :class:`ir.FunctionSpec`)."""
    return register(FunctionSpec(name, tuple(spellings), latex, derivative, numpy,
                                 dict(code), ufunc, real, real_valued, exact,
                                 matrix_function))


def call(name: str, c, x):
    """The canonical ``name(x)``, built with the constructors ``c``."""
    return c.func(BY_NAME[name], x)


def ones_like(c, x):
    return c.ONE if x.shape == SCALAR else c.Ones(x.shape)


def square(c, u):
    return c.power(u, 2) if u.shape == SCALAR else c.hadamard(u, u)


def _templates(name: str, sympy: str | None = None, **special) -> dict:
    """The code templates of a NumPy-named function: ``np.name({x})`` and its twins."""
    out = {"numpy": f"np.{name}({{x}})", "jax": f"jnp.{name}({{x}})",
           "torch": f"torch.{name}({{x}})", "sympy": sympy or name}
    out.update(special)
    return out


def _sign(v: Fraction) -> Fraction:
    return Fraction((v > 0) - (v < 0))


# ------------------------------------------------------------------------ the records

EXP = elementwise(
    "exp", spellings=("exp",), latex="\\exp",
    derivative=lambda c, x, fx: fx,
    numpy=lambda np, v: np.exp(v), code=_templates("exp"), ufunc=True,
    exact=lambda v: Fraction(1) if v == 0 else None,
    matrix_function=True)

LOG = elementwise(
    "log", spellings=("log", "ln"), latex="\\log",
    derivative=lambda c, x, fx: c.power(x, -1),
    numpy=lambda np, v: np.log(v), code=_templates("log"), ufunc=True,
    exact=lambda v: Fraction(0) if v == 1 else None,
    matrix_function=True)

SIN = elementwise(
    "sin", spellings=("sin",), latex="\\sin",
    derivative=lambda c, x, fx: call("cos", c, x),
    numpy=lambda np, v: np.sin(v), code=_templates("sin"), ufunc=True,
    exact=lambda v: Fraction(0) if v == 0 else None,
    matrix_function=True)

COS = elementwise(
    "cos", spellings=("cos",), latex="\\cos",
    derivative=lambda c, x, fx: c.neg(call("sin", c, x)),
    numpy=lambda np, v: np.cos(v), code=_templates("cos"), ufunc=True,
    exact=lambda v: Fraction(1) if v == 0 else None,
    matrix_function=True)

TAN = elementwise(
    "tan", spellings=("tan",), latex="\\tan",
    derivative=lambda c, x, fx: c.add(ones_like(c, x), square(c, call("tan", c, x))),
    numpy=lambda np, v: np.tan(v), code=_templates("tan"), ufunc=True,
    exact=lambda v: Fraction(0) if v == 0 else None)

TANH = elementwise(
    "tanh", spellings=("tanh",), latex="\\tanh",
    derivative=lambda c, x, fx: c.add(ones_like(c, x), c.neg(square(c, fx))),
    numpy=lambda np, v: np.tanh(v), code=_templates("tanh"), ufunc=True,
    exact=lambda v: Fraction(0) if v == 0 else None)

SINH = elementwise(
    "sinh", spellings=("sinh",), latex="\\sinh",
    derivative=lambda c, x, fx: call("cosh", c, x),
    numpy=lambda np, v: np.sinh(v), code=_templates("sinh"), ufunc=True,
    matrix_function=True)

COSH = elementwise(
    "cosh", spellings=("cosh",), latex="\\cosh",
    derivative=lambda c, x, fx: call("sinh", c, x),
    numpy=lambda np, v: np.cosh(v), code=_templates("cosh"), ufunc=True,
    matrix_function=True)

ARCTAN = elementwise(
    "arctan", spellings=("arctan",), latex="\\arctan",
    derivative=lambda c, x, fx: c.power(c.add(ones_like(c, x), square(c, x)), -1),
    numpy=lambda np, v: np.arctan(v), code=_templates("arctan", sympy="atan"), ufunc=True)

# sigma(x) = 1 / (1 + e^{-x}); sigma' = sigma (1 - sigma).  The tanh form below is exact
# enough for the check; generated NumPy/JAX code uses a form that is exact to an ulp (the
# sigma rule of codegen), torch its own sigmoid.
SIGMA = elementwise(
    "sigma", spellings=("sigmoid",), latex="\\sigma",
    derivative=lambda c, x, fx: (c.hadamard(fx, c.add(ones_like(c, x), c.neg(fx)))
                                 if x.shape != SCALAR else c.mul(fx, c.add(c.ONE, c.neg(fx)))),
    numpy=lambda np, v: 0.5 * (1.0 + np.tanh(0.5 * v)),
    code={"numpy": "0.5 * (1.0 + np.tanh(0.5 * {x}))",
          "jax": "0.5 * (1.0 + jnp.tanh(0.5 * {x}))",
          "torch": "torch.sigmoid({x})", "sympy": None})

# softplus(x) = log(1 + e^x), computed as logaddexp(0, x) = max(x, 0) + log1p(e^{-|x|}),
# exact to the last bit; torch's softplus is log1p(e^x) below its threshold and x above it,
# where x + e^{-x} == x in float64 from x = 37 on (its default threshold 20 would be off by
# 1e-10 relatively).  Generated code also writes log(1 + exp(v)) this way (codestable.stabilise).
SOFTPLUS = elementwise(
    "softplus", spellings=("softplus",), latex="\\operatorname{softplus}",
    derivative=lambda c, x, fx: call("sigma", c, x),
    numpy=lambda np, v: np.logaddexp(0.0, v),
    code={"numpy": "np.logaddexp(0.0, {x})", "jax": "jnp.logaddexp(0.0, {x})",
          "torch": "torch.nn.functional.softplus({x}, beta=1.0, threshold=40.0)",
          "sympy": None})

# relu(x) = max(x, 0), whose derivative is the unit step (0 at the kink, by the usual
# convention of autodiff libraries: jax.nn.relu and torch.relu have gradient 0 at 0)
RELU = elementwise(
    "relu", spellings=("relu", "ReLU", "ReLu"), latex="\\operatorname{ReLU}",
    derivative=lambda c, x, fx: call("step", c, x),
    numpy=lambda np, v: np.maximum(v, 0.0),
    code={"numpy": "np.maximum({x}, 0.0)", "jax": "jnp.maximum({x}, 0.0)",
          "torch": "torch.relu({x})", "sympy": None},
    exact=lambda v: max(v, Fraction(0)))

STEP = elementwise(
    "step", spellings=("step", "Heaviside", "heaviside"), latex="\\operatorname{step}",
    derivative=lambda c, x, fx: c.Zero(x.shape),
    numpy=lambda np, v: (v > 0).astype(float),
    code={"numpy": "np.heaviside({x}, 0.0)", "jax": "jnp.heaviside({x}, 0.0)",
          "torch": "torch.heaviside({x}, torch.zeros_like({x}))", "sympy": None},
    exact=lambda v: Fraction(int(v > 0)))

SIGN = elementwise(
    "sign", spellings=("sgn", "sign"), latex="\\operatorname{sign}",
    derivative=lambda c, x, fx: c.Zero(x.shape),
    numpy=lambda np, v: np.sign(v), code=_templates("sign"), ufunc=True, real=False,
    exact=_sign)

# |x|: written with bars, never by name; real-valued, so its own conjugate
ABS = elementwise(
    "abs", latex="\\left|\\right|",
    derivative=lambda c, x, fx: call("sign", c, x),
    numpy=lambda np, v: np.abs(v), code=_templates("abs", sympy="Abs"), ufunc=True,
    real=False, real_valued=True, exact=abs)



# ------------------------------------------------- a function the formula leaves unnamed

# f(W\mathbf{x}), g(\mathbf{w}^T\mathbf{x}): a letter conventionally a function, applied to
# parentheses, is a scalar function applied elementwise.  Its derivative is written f',
# f'', f''' (then f^{(4)}, ...); the numeric check evaluates it through a stand-in,
# A sin(w t + p) + c t^2 with constants drawn from the letter, whose derivatives are exact,
# so an answer in f' is verified for that f.  No code is emitted for it.
FUNCTION_LETTERS = {"f": "f", "g": "g", "h": "h", "phi": "\\phi", "varphi": "\\varphi",
                    "psi": "\\psi"}
_UNKNOWN: dict = {}


def unknown(letter: str, order: int = 0) -> FunctionSpec:
    """The record of the unknown function ``letter`` differentiated ``order`` times."""
    key = (letter, order)
    spec = _UNKNOWN.get(key)
    if spec is not None:
        return spec
    import zlib
    seed = zlib.crc32(letter.encode())
    amp, w = 1.0 + (seed % 7) / 10, 0.7 + (seed % 11) / 12
    phase, c = (seed % 13) / 13, 0.1 + (seed % 5) / 20

    def stand_in(np, v, k=order):
        poly = (c * v * v, 2 * c * v, 2 * c + 0 * v)[k] if k < 3 else 0 * v
        return amp * w ** k * np.sin(w * v + phase + k * np.pi / 2) + poly

    base = FUNCTION_LETTERS.get(letter, letter)
    latex = base + "'" * order if order <= 3 else f"{base}^{{({order})}}"
    spec = FunctionSpec(f"{letter}{chr(39) * order}", (), latex,
                        lambda c_, x, fx, k=order: c_.func(unknown(letter, k + 1), x),
                        stand_in, {}, real=True)
    _UNKNOWN[key] = spec
    return spec


def stand_in_text(letter: str) -> str:
    """How the stand-in of ``letter`` reads (for the stamp)."""
    import zlib
    seed = zlib.crc32(letter.encode())
    amp, w = 1.0 + (seed % 7) / 10, 0.7 + (seed % 11) / 12
    phase, c = (seed % 13) / 13, 0.1 + (seed % 5) / 20
    return f"{amp:.3g} sin({w:.3g}t + {phase:.3g}) + {c:.3g}t^2"
