"""Hardware-aware training: one noise profile, named presets, a chip drawn per batch.

A profile holds everything the analog implementation does to the ideal unit:

- static mismatch, drawn once per simulated chip (each training batch is a new
  chip): relative Gaussian errors on alpha, beta and every weight;
- dynamic noise, drawn each step: on the pre-activation z and on the state h,
  plus a leak of h per step;
- weight quantization to b bits (symmetric, per tensor, straight-through
  gradient), which is not noise: it applies at evaluation too.

Noise off (the "ideal" preset) is the exact unit of docs/design.md ("The unit").
Presets are starting points; `codesign calibrate` (Monte Carlo of the cells,
codesign/validation/calibrate.py) writes a measured profile file in the same
format: `preset = "..."` for the fields it does not measure, the measured
fields, and comment lines naming their sources. A recipe names it with
`[noise] profile = "profile.toml"` (a path inside the recipe's folder).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import torch

from codesign.config import ConfigError, from_dict, limits, path_inside, read_file


@dataclass(frozen=True)
class NoiseProfile:
    alpha_mismatch_rel: float = field(default=0.0, metadata=limits(0, 1))
    beta_mismatch_rel: float = field(default=0.0, metadata=limits(0, 1))
    weight_mismatch_rel: float = field(default=0.0, metadata=limits(0, 1))
    z_noise_std: float = field(default=0.0, metadata=limits(0))  # in units of z (I_unit)
    h_noise_std: float = field(default=0.0, metadata=limits(0))  # in units of h
    h_leak_per_step: float = field(default=0.0, metadata=limits(0, 1))
    weight_bits: int | None = field(default=None, metadata=limits(2, 16))

    @property
    def is_ideal(self) -> bool:
        return self == NoiseProfile()

    @property
    def has_random_part(self) -> bool:
        return dataclasses.replace(self, weight_bits=None) != NoiseProfile()


# sigma(Vth) ~4.7 mV (nfet, 1 um^2, sky130 tt_mm) over n*U_T ~34 mV gives ~14 %
# current mismatch for one minimum-ish mirror; the presets assume mirrors sized
# a few um^2 (~5 %) or left near minimum (~12 %).
PRESETS: dict[str, NoiseProfile] = {
    "ideal": NoiseProfile(),
    "quantized6": NoiseProfile(weight_bits=6),
    "sky130_typical": NoiseProfile(alpha_mismatch_rel=0.05, beta_mismatch_rel=0.05,
                                   weight_mismatch_rel=0.05, z_noise_std=0.02,
                                   h_noise_std=0.0, h_leak_per_step=0.0, weight_bits=6),
    "sky130_pessimistic": NoiseProfile(alpha_mismatch_rel=0.12, beta_mismatch_rel=0.12,
                                       weight_mismatch_rel=0.12, z_noise_std=0.05,
                                       h_noise_std=0.01, h_leak_per_step=1e-4, weight_bits=4),
}


def load_noise_profile(source: str | Path = "ideal", overrides: dict | None = None,
                       base_dir: Path | None = None) -> NoiseProfile:
    """A preset name or a TOML/JSON file, then field overrides.

    A file may start from a preset: ``preset = "sky130_typical"`` plus fields.
    """
    source = str(source)
    if source in PRESETS:
        data = {}
        preset = source
    else:
        path = Path(source) if base_dir is None else base_dir / source
        if base_dir is not None:  # a recipe names files next to it
            path_inside(source, "noise.profile", base_dir, "recipe's")
        if not path.suffix:
            raise ConfigError(f"noise.profile: {source!r} is neither a preset "
                              f"({', '.join(PRESETS)}) nor a .toml/.json file")
        data = dict(read_file(path))
        preset = data.pop("preset", "ideal")
        if preset not in PRESETS:
            raise ConfigError(f"{path}: preset: must be one of {', '.join(PRESETS)}; got {preset!r}")
        try:  # the file alone first, so an error in it (e.g. a calibrated profile edited by hand) names the file
            from_dict(NoiseProfile, {**dataclasses.asdict(PRESETS[preset]), **data}, "noise")
        except ConfigError as err:
            raise ConfigError(f"{path}: {err}") from None
    merged = {**dataclasses.asdict(PRESETS[preset]), **data, **(overrides or {})}
    return from_dict(NoiseProfile, merged, "noise")


def quantize_weights(w: torch.Tensor, bits: int | None) -> torch.Tensor:
    """Symmetric uniform quantization per tensor; the gradient passes straight through."""
    if bits is None:
        return w
    steps = 2 ** (bits - 1) - 1
    scale = w.detach().abs().max().clamp(min=1e-12) / steps
    return w + (torch.round(w / scale) * scale - w).detach()


class Chip:
    """One simulated chip: draws its static mismatch lazily, once per tensor name."""

    def __init__(self, profile: NoiseProfile, generator: torch.Generator | None):
        self.profile = profile
        self.generator = generator
        self._static: dict[str, torch.Tensor] = {}

    def _gauss(self, like: torch.Tensor) -> torch.Tensor:
        return torch.randn(like.shape, generator=self.generator, dtype=like.dtype)

    def mismatch(self, name: str, value: torch.Tensor, rel_sigma: float) -> torch.Tensor:
        if rel_sigma == 0:
            return value
        if name not in self._static:
            self._static[name] = 1 + rel_sigma * self._gauss(value)
        return value * self._static[name]

    def weight(self, name: str, w: torch.Tensor) -> torch.Tensor:
        return self.mismatch(name, quantize_weights(w, self.profile.weight_bits),
                             self.profile.weight_mismatch_rel)

    def step_noise(self, like: torch.Tensor, std: float) -> torch.Tensor | None:
        return None if std == 0 else std * self._gauss(like)


class IdealChip(Chip):
    """Evaluation: weights quantized as the hardware stores them, nothing random."""

    def __init__(self, profile: NoiseProfile):
        super().__init__(dataclasses.replace(NoiseProfile(), weight_bits=profile.weight_bits), None)
