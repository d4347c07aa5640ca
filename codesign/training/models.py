"""Cells and networks: the MRU family (one code path, eps a parameter) and the
LRU and minGRU baselines, all run by a scan over time.

    MRU layer:   z = W x + b;  h = mru_scan(z, alpha, beta, eps, bound = L * alpha)
      cmru        eps = 0, L levels per side, state on {k * alpha}
      bmru        eps = 1, L = 1: a firing step sets h to +-alpha
      alpha_cmru  alpha_t = alpha_max * sigmoid(W_a x + b_a), bound = L * alpha_max
    LRU layer:   h = lambda * h + gamma * B x (complex diagonal), y = GELU(Re(C h) + D x)
    minGRU:      h = (1 - g) * h + g * (W_h x),  g = sigmoid(W_g x)

A network stacks layers; with `skip`, layer l+1 also sees layer l's input.
A linear readout maps the last layer's state to outputs: per step, at the end, or
(readout_pool = "mean", for one output per sequence) from its mean over the sequence.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from codesign.config import ConfigError, limits
from codesign.manifest import pool_states
from codesign.training.noise import Chip, IdealChip, NoiseProfile
from codesign.training.scan import clip_affine_scan, linear_scan
from codesign.training.tasks.base import READOUTS
from codesign.training.unit import SURROGATES, mru_scan

MRU_CELLS = {"cmru": 0.0, "alpha_cmru": 0.0, "bmru": 1.0}  # cell -> its native eps
CELLS = (*MRU_CELLS, "lru", "mingru")
READOUT_POOLS = ("last", "mean")


@dataclass(frozen=True)
class ModelConfig:
    cell: str = field(default="cmru", metadata=limits(choices=CELLS))
    hidden: int = field(default=8, metadata=limits(1, 4096))
    layers: int = field(default=1, metadata=limits(1, 16))
    levels: int | None = field(default=4, metadata=limits(1, 1024))  # L per side; None: no clip
    skip: bool = False
    surrogate: str = field(default="triangle", metadata=limits(choices=SURROGATES))
    surrogate_width: float = field(default=0.5, metadata=limits(0, lo_open=True))
    straight_through_clip: bool = False
    beta_init: float = field(default=0.5, metadata=limits(0, lo_open=True))
    lru_r_min: float = field(default=0.9, metadata=limits(0, 1))
    lru_r_max: float = field(default=0.999, metadata=limits(0, 1))
    # "mean": a per-sequence readout reads the mean state over the sequence, not the last one
    readout_pool: str = field(default="last", metadata=limits(choices=READOUT_POOLS))

    def __post_init__(self):
        if self.cell == "bmru" and self.levels not in (1, None):
            raise ValueError("a bmru holds +-alpha only: set levels = 1")
        if self.lru_r_min >= self.lru_r_max:
            raise ValueError("lru_r_min must be below lru_r_max")


class MRULayer(nn.Module):
    def __init__(self, n_in: int, cfg: ModelConfig, name: str):
        super().__init__()
        self.cfg, self.name = cfg, name
        self.input = nn.Linear(n_in, cfg.hidden)  # the synapse array: W, b
        levels = cfg.levels or 1
        self.log_alpha = nn.Parameter(torch.full((cfg.hidden,), math.log(1.0 / levels)))
        self.log_beta = nn.Parameter(torch.full((cfg.hidden,), math.log(cfg.beta_init)))
        self.gate = nn.Linear(n_in, cfg.hidden) if cfg.cell == "alpha_cmru" else None
        self.register_buffer("eps", torch.tensor(MRU_CELLS[cfg.cell]))

    def unit_parameters(self):
        """alpha (alpha_max for alpha_cmru), beta and bound, per unit, as trained."""
        alpha, beta = self.log_alpha.exp(), self.log_beta.exp()
        bound = None if self.cfg.levels is None else self.cfg.levels * alpha
        return alpha, beta, bound

    def forward(self, x: torch.Tensor, chip: Chip) -> torch.Tensor:
        return self.run(x, chip)[0]

    def run(self, x: torch.Tensor, chip: Chip) -> tuple[torch.Tensor, torch.Tensor]:
        """(h, z / beta): the state and the pre-activation in units of this chip's
        threshold (before dynamic noise), which the threshold margin acts on."""
        p = chip.profile
        z = F.linear(x, chip.weight(f"{self.name}.W", self.input.weight), self.input.bias)
        z_noise = chip.step_noise(z, p.z_noise_std)
        alpha, beta, _ = self.unit_parameters()
        alpha = chip.mismatch(f"{self.name}.alpha", alpha, p.alpha_mismatch_rel)
        beta = chip.mismatch(f"{self.name}.beta", beta, p.beta_mismatch_rel)
        bound = None if self.cfg.levels is None else self.cfg.levels * alpha
        alpha_t = alpha
        if self.gate is not None:
            w_gate = chip.weight(f"{self.name}.W_a", self.gate.weight)
            alpha_t = alpha * torch.sigmoid(F.linear(x, w_gate, self.gate.bias))
        h = mru_scan(z if z_noise is None else z + z_noise, alpha_t, beta, self.eps, bound,
                     surrogate_width=self.cfg.surrogate_width, surrogate=self.cfg.surrogate,
                     straight_through_clip=self.cfg.straight_through_clip,
                     leak=p.h_leak_per_step, h_noise=chip.step_noise(z, p.h_noise_std))
        return h, z / beta

    def row_current(self, x: torch.Tensor) -> torch.Tensor:
        """sum_j |w_ij x_j| / beta_i [B, T, hidden]: the signal current row i of a synapse
        array carries, in I_unit (the contract delivers z / beta * I_unit and each synapse
        |w_ij x_j| / beta_i of it, positive and negative ones alike)."""
        return F.linear(x.abs(), self.input.weight.abs()) / self.log_beta.exp()


class LRULayer(nn.Module):
    """Linear Recurrent Unit (Orvieto et al. 2023): stable exponential parametrization,
    ring initialization of |lambda| in [r_min, r_max], gamma normalization."""

    def __init__(self, n_in: int, cfg: ModelConfig, name: str):
        super().__init__()
        self.name, d = name, cfg.hidden
        u1, u2 = torch.rand(d), torch.rand(d)
        r2 = u1 * (cfg.lru_r_max**2 - cfg.lru_r_min**2) + cfg.lru_r_min**2
        self.nu_log = nn.Parameter(torch.log(-0.5 * torch.log(r2)))
        self.theta_log = nn.Parameter(torch.log(math.pi / 10 * u2 + 1e-4))
        self.gamma_log = nn.Parameter(0.5 * torch.log(1 - r2))
        self.B = nn.Parameter(torch.randn(2, d, n_in) / math.sqrt(2 * n_in))
        self.C = nn.Parameter(torch.randn(2, d, d) / math.sqrt(d))
        self.D = nn.Parameter(torch.randn(d, n_in) / math.sqrt(n_in))

    def forward(self, x: torch.Tensor, chip: Chip) -> torch.Tensor:
        lam = torch.exp(torch.complex(-self.nu_log.exp(), self.theta_log.exp()))
        B = chip.weight(f"{self.name}.B", self.B)
        C = chip.weight(f"{self.name}.C", self.C)
        bx = torch.complex(F.linear(x, B[0]), F.linear(x, B[1])) * self.gamma_log.exp()
        h = linear_scan(lam.expand_as(bx), bx)
        y = F.linear(h.real, C[0]) - F.linear(h.imag, C[1]) + F.linear(x, self.D)
        return F.gelu(y)


class MinGRULayer(nn.Module):
    """minGRU (Feng et al. 2024): gate and candidate depend on the input only."""

    def __init__(self, n_in: int, cfg: ModelConfig, name: str):
        super().__init__()
        self.name = name
        self.gate = nn.Linear(n_in, cfg.hidden)
        self.candidate = nn.Linear(n_in, cfg.hidden)

    def forward(self, x: torch.Tensor, chip: Chip) -> torch.Tensor:
        g = torch.sigmoid(F.linear(x, chip.weight(f"{self.name}.W_g", self.gate.weight), self.gate.bias))
        cand = F.linear(x, chip.weight(f"{self.name}.W_h", self.candidate.weight), self.candidate.bias)
        inf = torch.tensor(torch.inf, dtype=x.dtype)
        return clip_affine_scan(1 - g, g * cand, -inf, inf)


LAYERS = {"cmru": MRULayer, "alpha_cmru": MRULayer, "bmru": MRULayer,
          "lru": LRULayer, "mingru": MinGRULayer}


class Network(nn.Module):
    def __init__(self, n_in: int, n_out: int, cfg: ModelConfig, readout: str = "last"):
        super().__init__()
        if readout not in READOUTS:
            raise ValueError(f"readout must be one of {READOUTS}, got {readout!r}")
        if cfg.readout_pool == "mean" and readout != "last":
            raise ConfigError(f"model.readout_pool = 'mean' pools a sequence into one output, but the task "
                              f"reads out {readout!r}")
        self.cfg, self.readout_mode = cfg, ("mean" if cfg.readout_pool == "mean" else readout)
        layers, width = [], n_in
        for index in range(cfg.layers):
            layers.append(LAYERS[cfg.cell](width, cfg, f"layer{index}"))
            width = cfg.hidden + (width if cfg.skip else 0)
        self.layers = nn.ModuleList(layers)
        self.readout = nn.Linear(cfg.hidden, n_out)

    def set_eps(self, eps: float) -> None:
        for layer in self.layers:
            if isinstance(layer, MRULayer):
                layer.eps.fill_(eps)

    @property
    def eps(self) -> float | None:
        """The MRU layers' eps (None for baselines)."""
        return next((layer.eps.item() for layer in self.layers if isinstance(layer, MRULayer)), None)

    def run(self, x: torch.Tensor, chip: Chip | None = None, row_current: bool = False) -> NetworkRun:
        """Outputs, each layer's states and the MRU layers' z / beta in one pass; row_current: the
        MRU layers' row currents too (an extra product over the inputs, only when asked)."""
        chip = chip or IdealChip(NoiseProfile())
        states, z_rel, rows, inp = [], [], [], x
        for layer in self.layers:
            if isinstance(layer, MRULayer):
                h, zr = layer.run(inp, chip)
                z_rel.append(zr)
                if row_current:
                    rows.append(layer.row_current(inp))
            else:
                h = layer(inp, chip)
            states.append(h)
            inp = torch.cat([h, inp], -1) if self.cfg.skip else h
        h = pool_states(self.readout_mode, states[-1])
        y = F.linear(h, chip.weight("readout.W", self.readout.weight), self.readout.bias)
        return NetworkRun(y, states, z_rel, rows)

    def states(self, x: torch.Tensor, chip: Chip | None = None) -> list[torch.Tensor]:
        """Each layer's state sequence [B, T, hidden]."""
        return self.run(x, chip).states

    def forward(self, x: torch.Tensor, chip: Chip | None = None) -> torch.Tensor:
        return self.run(x, chip).y


@dataclass
class NetworkRun:
    y: torch.Tensor  # outputs [B, n_out] (last, mean) or [B, T, n_out] (per_step)
    states: list[torch.Tensor]  # per layer [B, T, hidden]
    z_rel: list[torch.Tensor]  # per MRU layer, z / beta [B, T, hidden] (empty for baselines)
    row_current: list[torch.Tensor]  # per MRU layer, `MRULayer.row_current` [B, T, hidden] if run(row_current=True)
