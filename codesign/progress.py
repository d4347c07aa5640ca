"""Progress bars for long work: on stderr always, so a job run under nohup or in CI shows
its stage, done / total and estimate in its log; off a terminal a line every 30 s at most."""

from __future__ import annotations

import sys


def progress_bar(iterable=None, **kwargs):
    """tqdm on stderr; `kwargs` as tqdm's (desc, total, unit, leave...)."""
    from tqdm import tqdm

    on_terminal = sys.stderr.isatty()
    kwargs.setdefault("mininterval", 0.1 if on_terminal else 30.0)
    return tqdm(iterable, file=sys.stderr, dynamic_ncols=on_terminal, **kwargs)
