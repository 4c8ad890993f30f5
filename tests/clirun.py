"""Running the command line in-process (click's CliRunner), shared by the CLI tests."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from texgrad.cli import main


def invoke(args, input=None, env=None):
    """``texgrad ARGS``; an exception other than the exit itself is raised, not hidden."""
    result = CliRunner().invoke(main, args, input=input, env=env)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def stderr_of(result) -> str:
    # click >= 8.2 keeps stderr apart by default; older versions mix it into output
    try:
        return result.stderr
    except ValueError:          # pragma: no cover - click < 8.2 without mix_stderr=False
        pytest.skip("this click version does not separate stderr")
