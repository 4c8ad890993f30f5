"""Hypothesis profiles for the fuzz tests (tests/test_fuzz.py), and the order of the modules.

* ``ci`` (the default): derandomized, so a CI run is reproducible; about 60 examples per
  property; no deadline (a derivative with its numeric check can take a few tens of ms and
  the first call pays for building the parser); no example database (nothing written into
  the checkout); the reproduction blob printed on failure.
* ``long``: 20,000 examples, randomized; ``HYPOTHESIS_PROFILE=long python -m pytest
  tests/test_fuzz.py`` or ``python bench/fuzz.py`` (which shares the budget among the
  properties and prints the figures).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", derandomize=True, max_examples=60, deadline=None, print_blob=True, database=None,
    suppress_health_check=[HealthCheck.too_slow])
settings.register_profile(
    "long", max_examples=20_000, deadline=None, print_blob=True, database=None,
    suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


# The stage tests run first, lowest stage first, so that a broken rule, constructor or
# printer fails a test named after it before the corpus and face tests that depend on it
# (a broken Det adjoint fails test_rules.py::test_rule[Det] first, not test_batch.py).
STAGE_ORDER = ("test_structure", "test_tables", "test_ir", "test_functions",
               "test_construct", "test_factor", "test_conj", "test_rules", "test_parse",
               "test_request", "test_printer", "test_numeric", "test_derive")


def pytest_collection_modifyitems(session, config, items):
    def rank(item):
        stem = item.path.stem if hasattr(item, "path") else ""
        return STAGE_ORDER.index(stem) if stem in STAGE_ORDER else len(STAGE_ORDER)
    items.sort(key=rank)        # stable: within a rank, the collection order stays
    _only(config, items)


# CI's second run (.ci/run): the first run, without the optional parts (jax, torch, dask,
# the latex2sympy2 oracle, KaTeX), names what it skipped in $TEXGRAD_SKIPPED_TO; once they
# are installed, the second run with $TEXGRAD_ONLY set to that file runs just those tests
# (a module skipped whole at collection counts for every test in it).  xfails are not skips.
def _note_skip(nodeid: str) -> None:
    path = os.environ.get("TEXGRAD_SKIPPED_TO")
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(nodeid + "\n")


def pytest_runtest_logreport(report):
    if report.skipped and not hasattr(report, "wasxfail"):
        _note_skip(report.nodeid)


def pytest_collectreport(report):
    if report.skipped:
        _note_skip(report.nodeid)


def _only(config, items):
    path = os.environ.get("TEXGRAD_ONLY")
    if not path:
        return
    with open(path, encoding="utf-8") as fh:
        wanted = {line.strip() for line in fh if line.strip()}
    keep, drop = [], []
    for item in items:
        parts = item.nodeid.split("::")
        prefixes = {"::".join(parts[:k]) for k in range(1, len(parts) + 1)}
        (keep if prefixes & wanted else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
