"""Functions applied, in the syntax: operator heads (``\\operatorname{tr}``, ``\\det``, the
adjugate desugared), the elementwise functions of :mod:`texgrad.functions` by their records,
and a letter that names an unknown function (``f(W\\mathbf{x})``).

:class:`Calls` is the part of the elaboration (:class:`texgrad.elaborate.Typer`) that reads
a function applied to its argument.
"""

from __future__ import annotations

from fractions import Fraction

from . import construct as S
from .errors import ShapeError, TexgradError, Unsupported
from .functions import BY_NAME, EXP, LOG
from .ir import ImagUnit
from .matexp import matexp
from .syntax import number_value


def _is_zero(n) -> bool:
    return number_value(n) == 0


class Calls:
    """Elaboration of functions applied (a mixin of the Typer)."""

    def t_call(self, n, name, latex, arg):
        if name.endswith("'"):
            return self.t_derived(n, name, latex, arg)
        if arg.op == "pair" or name in ("max", "min"):
            return self.t_extremum(n, name, latex, arg)
        if name == "tr" and arg.op == "kron":
            # tr(A \otimes B) = tr(A) tr(B) (Cookbook 521), desugared
            a, b = self.build(arg.args[0]), self.build(arg.args[1])
            self.need_square(a, arg.args[0], "the trace")
            self.need_square(b, arg.args[1], "the trace")
            return S.Mul((S.Trace(a), S.Trace(b)))
        e = self.build(arg)
        if name in ("tr", "etr"):
            self.need_square(e, arg, "the trace")
            if latex:
                self.style.setdefault("trace", latex)
                if self.style["trace"] is None:
                    self.style["trace"] = latex
            t = S.Trace(e)
            return S.Func(EXP, t) if name == "etr" else t
        if name == "det":
            self.need_square(e, arg, "the determinant")
            return S.Det(e)
        if name == "adj":
            # the adjugate, desugared: adj(A) = det(A) A^{-1} (wherever A is invertible)
            self.need_square(e, arg, "the adjugate")
            return S.Mul((S.Det(e), S.MatPow(e, -1)))
        if name == "logdet":
            self.need_square(e, arg, "log det")
            return S.Func(LOG, S.Det(e))
        spec = BY_NAME.get(name)
        if spec is not None:                   # an elementwise function: its record
            if name == "log" and latex and latex.startswith("\\ln"):
                self.style["log"] = "\\ln"
            if spec.matrix_function and all(self._definitely_not_1(d) for d in e.shape):
                note = f"{latex or name}(\\cdot) of a matrix read entrywise" + (
                    " (e^{X} is the matrix exponential)" if name == "exp" else "")
                if note not in self.readings:
                    self.readings.append(note)
            return S.Func(spec, e)
        if name == "diag":
            r, c = self.shape_of(e)
            if c != 1:
                self.need_square(e, arg, "diag of a matrix")
            return S.Diag(e)
        if name == "softmax":
            self.promote_if_scalar(e)          # softmax(z): z is a vector
            return S.Softmax(e)
        if name == "vec":
            return S.Vec(e)
        if name == "expm":
            self.need_square(e, arg, "the matrix exponential")
            return matexp(e)
        if name == "conj":
            return self.t_conj(n, arg)
        if name == "Re":
            # Re(z) = (z + conj z) / 2, desugared (real-valued, so a real f may contain it)
            return S.Mul((S.const(Fraction(1, 2)), S.Add((e, S.Conj(e)))))
        if name == "Im":
            # Im(z) = (z - conj z) / 2i = -i (z - conj z) / 2, desugared
            return S.Mul((S.const(Fraction(-1, 2)), ImagUnit(),
                          S.Add((e, S.Mul((S.const(-1), S.Conj(e)))))))
        raise Unsupported(f"the function {name} is not supported",
                          hint="supported: tr det log exp sin cos tanh sigma diag softmax "
                               "and norms").at(self.text, n.start, n.end - n.start)

    def t_derived(self, n, name, latex, arg):
        """``\\sigma'(z)``, ``\\tanh'(x)``: the derivative of an elementwise function, from its
        record (written as its derivative: ``\\sigma(z) (1 - \\sigma(z))``)."""
        base = name.rstrip("'")
        spec = BY_NAME.get(base)
        if spec is None or name.count("'") > 1:
            raise Unsupported(f"{latex}{chr(39) * name.count(chr(39))} is not supported",
                              hint="the first derivative of an elementwise function "
                                   "(\\sigma'(z), \\tanh'(x)) is").at(
                self.text, n.start, n.end - n.start)
        e = self.build(arg)
        return spec.derivative(S, e, S.Func(spec, e))

    def t_extremum(self, n, name, latex, arg):
        """``\\max(0, x)``, ``\\min(a, b)``: elementwise, desugared through ReLU:
        max(a, b) = b + relu(a - b) (relu(x) when a = 0), min(a, b) = -max(-a, -b)."""
        if name not in ("max", "min") or arg.op != "pair":
            what = f"{latex} of two arguments" if arg.op == "pair" else f"{latex} of one"
            raise Unsupported(f"{what} is not supported",
                              hint="\\max(a, b) and \\min(a, b) take two arguments, "
                                   "elementwise").at(self.text, n.start, n.end - n.start)
        a, b = self.build(arg.args[0]), self.build(arg.args[1])
        relu = BY_NAME["relu"]
        if name == "min":
            a, b = S.Mul((S.const(-1), a)), S.Mul((S.const(-1), b))
        zero_a, zero_b = _is_zero(arg.args[0]), _is_zero(arg.args[1])
        if zero_a or zero_b:
            out = S.Func(relu, b if zero_a else a)
        else:
            if self.shape_of(a) != self.shape_of(b):
                self.dims.unify(a.shape[0], b.shape[0], "max", arg.args[0], arg.args[1])
                self.dims.unify(a.shape[1], b.shape[1], "max", arg.args[0], arg.args[1])
            out = S.Add((b, S.Func(relu, S.Add((a, S.Mul((S.const(-1), b)))))))
        return S.Mul((S.const(-1), out)) if name == "min" else out

    def t_pair(self, n, a, b):
        raise Unsupported("a pair (a, b) is only read as the arguments of \\max or \\min"
                          ).at(self.text, n.start, n.end - n.start)

    def t_fcall(self, n, name, latex, primes, arg, letter, group):
        """``f(W\\mathbf{x})``: an unknown scalar function applied elementwise (its
        derivatives f', f'', ...), unless ``f`` is declared a symbol (then the product
        f (W x), as written); the reading is said in the stamp."""
        if name in self.user_shapes or name in self.user_assume:
            self.readings.append(f"{self.src(n)} read as the product of {latex} and "
                                 f"{self.src(group)}")
            return self.t_product(n, letter, group)
        from .functions import stand_in_text, unknown
        e = self.build(arg)
        spec = unknown(name, primes)
        note = (f"{latex}(\\cdot) read as a scalar function applied elementwise (checked "
                f"with {latex}(t) = {stand_in_text(name)})")
        if note not in self.readings:
            self.readings.append(note)
        return S.Func(spec, e)

    def t_call_missing(self, n):
        raise TexgradError("a function needs an argument").at(self.text, n.start)

    def t_head(self, n, name, latex):
        raise ShapeError(f"{latex} needs an argument",
                         hint=f"write {latex}(X)").at(self.text, n.start, n.end - n.start)
