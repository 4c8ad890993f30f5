"""texgrad: LaTeX in, derivative out — in the compact form a textbook prints, verified
numerically.

>>> import texgrad
>>> texgrad.differentiate(r"\\mathbf{x}^\\top B\\mathbf{x}", wrt=r"\\mathbf{x}").latex
'\\\\left(B + B^{\\\\top}\\\\right)\\\\mathbf{x}'
"""

from .api import Result, differentiate, evaluate
from .errors import LimitError, ParseError, ShapeError, TexgradError, Unsupported

__version__ = "0.1.0"

__all__ = ["differentiate", "evaluate", "Result", "TexgradError", "ParseError", "ShapeError",
           "Unsupported", "LimitError", "__version__"]
