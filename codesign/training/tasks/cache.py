"""Where computed data sets live, and how files there are written and read back.

The cache root is codesign.cache.cache_root ($CODESIGN_CACHE_DIR, else
$XDG_CACHE_HOME/codesign, else ~/.cache/codesign). Computed files (features,
generated audio) are verified entries (codesign.fsio): written atomically with
a `.sha256` file beside them, and read back only if they still match it; a file
edited, cut short or left without its hash is reported, deleted and rebuilt.
Small descriptive files (split lists, settings) are written atomically.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from codesign.cache import CACHE_ENV_VAR, cache_root  # noqa: F401  (re-exported)
from codesign.fsio import atomic_write_text, read_entry, write_entry  # noqa: F401  (re-exported)


def settings_hash(settings: Any) -> str:
    """A short stable key for JSON-able settings (dict keys sorted)."""
    text = json.dumps(settings, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
