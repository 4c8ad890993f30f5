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
STAGE_ORDER = ("test_layout", "test_structure", "test_tables", "test_ir", "test_functions",
               "test_construct", "test_factor", "test_conj", "test_rules", "test_parse",
               "test_request", "test_printer", "test_numeric", "test_derive")


def pytest_collection_modifyitems(session, config, items):
    def rank(item):
        stem = item.path.stem if hasattr(item, "path") else ""
        return STAGE_ORDER.index(stem) if stem in STAGE_ORDER else len(STAGE_ORDER)
    items.sort(key=rank)        # stable: within a rank, the collection order stays
