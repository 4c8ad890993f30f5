"""The README's examples run as pasted: each single-formula ``texgrad`` command in a sh
block exits 0, and what it prints first is in the README (where the section shows it)."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
TEXT = README.read_text(encoding="utf-8") if README.is_file() else ""
COMMANDS = [line for block in re.findall(r"```sh\n(.*?)```", TEXT, re.S)
            for line in block.strip().splitlines()
            if line.startswith("texgrad ") and not line.split()[1] in ("serve", "batch",
                                                                         "check", "lsp")]


@pytest.mark.skipif(not TEXT, reason="no README beside the tests (an installed copy)")
@pytest.mark.parametrize("command", COMMANDS)
def test_a_readme_example_runs_and_prints_what_the_readme_says(command):
    args = shlex.split(command)[1:]
    out = subprocess.run([sys.executable, "-m", "texgrad", *args], capture_output=True,
                         text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert out.returncode == 0, out.stderr
    first = out.stdout.splitlines()[0]
    assert first in TEXT, f"{command} prints {first!r}, which the README does not show"


def test_the_examples_are_found():
    if TEXT:
        assert len(COMMANDS) >= 4
