"""Training recipes: one TOML file -> a validated, frozen Recipe.

    name = "flipflop"
    seed = 0
    [task]   name = "flipflop", params = { k = 3, T = 100 }
    [model]  cell = "cmru", hidden = 8, levels = 4, ...        (ModelConfig)
    [eps]    kind = "linear", start = 0.0, end = 1.0, ...      (EpsSchedule; omit: the cell's eps)
    [noise]  profile = "sky130_typical" (or a file), plus any NoiseProfile field
    [train]  epochs = 20, batch_size = 64, lr = 3e-3, ...

Unknown keys, wrong types and out-of-range values are refused with the key
named. `--set model.cell=lru` style overrides go through the same checks.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path

from codesign.config import ConfigError, from_dict, limits, parse_override, read_file
from codesign.training.models import ModelConfig
from codesign.training.noise import NoiseProfile, load_noise_profile
from codesign.training.schedules import EpsSchedule
from codesign.training.specaugment import SpecAugment
from codesign.training.tasks import TaskParamError, task_params


@dataclass(frozen=True)
class TaskSpec:
    name: str
    params: dict = field(default_factory=dict)


@dataclass(frozen=True)
class TrainSpec:
    # Upper limits: epochs, batch size and checkpoints size time, memory and disk;
    # an AdamW step above lr = 1 or a weight decay above 10 only diverges.
    epochs: int = field(default=20, metadata=limits(1, 100000))
    batch_size: int = field(default=64, metadata=limits(1, 65536))
    lr: float = field(default=3e-3, metadata=limits(0, 1.0, lo_open=True))
    weight_decay: float = field(default=0.0, metadata=limits(0, 10.0))
    grad_clip: float = field(default=1.0, metadata=limits(0, 1e6))  # 0: off
    lr_schedule: str = field(default="cosine", metadata=limits(choices=("constant", "cosine")))
    checkpoint_every: int = field(default=5, metadata=limits(1, 100000))  # numbered snapshots; latest is every epoch
    eval_chips: int = field(default=0, metadata=limits(0, 1000))  # test again on this many noisy chips
    threads: int = field(default=1, metadata=limits(1, 256))
    # Keep the MRU pre-activations away from the comparator thresholds: a penalty
    # on z within threshold_margin * beta of +-beta (0: off; docs/training.md).
    threshold_margin: float = field(default=0.0, metadata=limits(0, 0.5))
    threshold_margin_weight: float = field(default=1.0, metadata=limits(0, 1e6))
    # Keep each synapse row's signal current, sum_j |w_ij x_j| / beta_i in I_unit, at most
    # row_current_max_i_unit (0: off): what a mirror array carries linearly and what it
    # draws (docs/training.md, "Row current").
    row_current_max_i_unit: float = field(default=0.0, metadata=limits(0, 1e6))
    row_current_weight: float = field(default=1.0, metadata=limits(0, 1e6))
    # SpecAugment on training batches: per sample, time_masks spans of up to
    # time_mask_frames frames and freq_masks spans of up to freq_mask_channels
    # channels set to 0 (counts 0: off; docs/training.md).
    time_masks: int = field(default=0, metadata=limits(0, 100))
    time_mask_frames: int = field(default=0, metadata=limits(0, 100000))
    freq_masks: int = field(default=0, metadata=limits(0, 100))
    freq_mask_channels: int = field(default=0, metadata=limits(0, 100000))

    @property
    def spec_augment(self) -> SpecAugment:
        return SpecAugment(self.time_masks, self.time_mask_frames, self.freq_masks, self.freq_mask_channels)


@dataclass(frozen=True)
class Recipe:
    name: str
    task: TaskSpec
    seed: int = field(default=0, metadata=limits(0, 2**31 - 1))
    model: ModelConfig = ModelConfig()
    eps: EpsSchedule | None = None  # None: the cell's own eps (cmru 0, bmru 1)
    noise: NoiseProfile = NoiseProfile()
    train: TrainSpec = TrainSpec()

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


_NAME = re.compile(r"[A-Za-z0-9_.-]+")


def recipe_from_dict(data: dict, base_dir: Path | None = None) -> Recipe:
    data = copy.deepcopy(data)
    if not isinstance(data.get("task"), dict):
        raise ConfigError("task: required table with at least `name`")
    noise = data.pop("noise", {})
    if not isinstance(noise, dict):
        raise ConfigError("noise: must be a table")
    profile = noise.pop("profile", "ideal")
    data["noise"] = dataclasses.asdict(load_noise_profile(profile, noise, base_dir))
    recipe = from_dict(Recipe, data)
    if not _NAME.fullmatch(recipe.name):  # fullmatch: no final newline either
        raise ConfigError(f"name: letters, digits, '_', '-', '.' only; got {recipe.name!r}")
    try:
        known = task_params(recipe.task.name)
    except TaskParamError as err:
        raise ConfigError(f"task.name: {err}") from None
    unknown = sorted(set(recipe.task.params) - set(known))
    if unknown:
        raise ConfigError(f"task.params.{unknown[0]}: unknown parameter of task "
                          f"{recipe.task.name!r}; known: {', '.join(known)}")
    model = recipe.model
    if model.cell in ("lru", "mingru") and recipe.eps is not None:
        raise ConfigError(f"eps: cell {model.cell!r} has no eps; remove the [eps] table")
    if model.cell in ("lru", "mingru") and recipe.train.threshold_margin > 0:
        raise ConfigError(f"train.threshold_margin: cell {model.cell!r} has no comparator thresholds; set it to 0")
    if model.cell in ("lru", "mingru") and recipe.train.row_current_max_i_unit > 0:
        raise ConfigError(f"train.row_current_max_i_unit: cell {model.cell!r} has no thresholds to scale its "
                          f"rows by; set it to 0")
    for masks, width in (("time_masks", "time_mask_frames"), ("freq_masks", "freq_mask_channels")):
        if getattr(recipe.train, masks) > 0 and getattr(recipe.train, width) == 0:
            raise ConfigError(f"train.{width}: must be at least 1 with train.{masks} = "
                              f"{getattr(recipe.train, masks)} (or set train.{masks} = 0)")
    return recipe


def apply_override(data: dict, assignment: str) -> None:
    """`a.b.c=value` into nested dict `data`; value parsed as TOML, else a string."""
    key, value = parse_override(assignment, "--set")
    node = data
    parts = key.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"--set {key}: {part} is not a table")
    node[parts[-1]] = value


def load_recipe(path: str | Path, overrides: list[str] = (), seed: int | None = None) -> Recipe:
    path = Path(path)
    data = read_file(path)
    for assignment in overrides:
        apply_override(data, assignment)
    if seed is not None:
        data["seed"] = seed
    try:
        return recipe_from_dict(data, path.parent)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None
