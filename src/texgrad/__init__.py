"""texgrad: LaTeX in, derivative out — in the compact form a textbook prints, verified
numerically.

>>> import texgrad
>>> texgrad.differentiate(r"\\mathbf{x}^\\top B\\mathbf{x}", wrt=r"\\mathbf{x}").latex
'\\\\left(B + B^{\\\\top}\\\\right)\\\\mathbf{x}'
"""

from .api import Result, differentiate, evaluate
from .errors import LimitError, ParseError, ShapeError, TexgradError, Unsupported

__version__ = "0.1.0"

__all__ = ["differentiate", "evaluate", "check_claim", "ClaimResult", "Result",
           "TexgradError", "ParseError", "ShapeError", "Unsupported", "LimitError",
           "__version__"]


def load_ipython_extension(ipython):
    """``%load_ext texgrad``: the ``%texgrad`` and ``%%texgrad`` magics."""
    from .notebook import load_ipython_extension as load
    load(ipython)


def __getattr__(name):
    # the paper checker is imported on first use, off the CLI's start-up path
    if name in ("check_claim", "ClaimResult", "check_text"):
        from . import claims
        return getattr(claims, name)
    raise AttributeError(f"module 'texgrad' has no attribute {name!r}")
