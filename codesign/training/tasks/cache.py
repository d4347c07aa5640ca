"""Where computed data sets live, and how files there are written.

The cache root is codesign.cache.cache_root ($CODESIGN_CACHE_DIR, else
$XDG_CACHE_HOME/codesign, else ~/.cache/codesign). Files are
written to a temporary name in the same folder and renamed into place, so an
interrupted run never leaves a half-written file under its final name.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from codesign.cache import CACHE_ENV_VAR, cache_root  # noqa: F401  (re-exported)

def settings_hash(settings: Any) -> str:
    """A short stable key for JSON-able settings (dict keys sorted)."""
    text = json.dumps(settings, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@contextmanager
def atomic_path(final: Path) -> Iterator[Path]:
    """Yield a temporary path next to `final`; rename it to `final` on success."""
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)
