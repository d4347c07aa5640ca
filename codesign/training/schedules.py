"""eps-annealing: the unit's eps as a function of training progress.

Training from eps = 0 (CMRU: gradients flow through time) towards the eps of
the target hardware (1 for latch hardware). The ramp runs from `begin` for
`length` epochs or optimizer steps (`per`), then holds `end`:

    constant  start throughout
    linear    start -> end, straight
    cosine    start -> end, half a cosine (slow at both ends)
    step      start -> end in `n_steps` equal jumps
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from codesign.config import limits

KINDS = ("constant", "linear", "cosine", "step")


@dataclass(frozen=True)
class EpsSchedule:
    kind: str = field(default="constant", metadata=limits(choices=KINDS))
    start: float = field(default=0.0, metadata=limits(0, 1))
    end: float = field(default=0.0, metadata=limits(0, 1))
    per: str = field(default="epoch", metadata=limits(choices=("epoch", "step")))
    begin: int = field(default=0, metadata=limits(0))
    length: int = field(default=1, metadata=limits(1))
    n_steps: int = field(default=4, metadata=limits(1))

    def value(self, epoch: int, step: int) -> float:
        """eps at this epoch (0-based) and global optimizer step (0-based)."""
        if self.kind == "constant":
            return self.start
        index = epoch if self.per == "epoch" else step
        # Progress reaches 1 on the last index of the ramp, so `end` is trained on.
        progress = min(max((index - self.begin) / max(self.length - 1, 1), 0.0), 1.0)
        if self.length == 1:
            progress = 1.0 if index >= self.begin else 0.0
        if self.kind == "cosine":
            progress = 0.5 * (1 - math.cos(math.pi * progress))
        elif self.kind == "step":
            progress = math.floor(progress * self.n_steps + 1e-9) / self.n_steps
        return self.start + (self.end - self.start) * progress
