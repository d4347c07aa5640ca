"""Training stage: the unit as a differentiable scan, cells and networks, noise,
eps schedules, tasks, and the `codesign train` loop."""

from codesign.training.scan import clip_affine_scan
from codesign.training.unit import mru_scan, mru_sequential

__all__ = ["clip_affine_scan", "mru_scan", "mru_sequential"]
