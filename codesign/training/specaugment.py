"""SpecAugment (Park et al. 2019): random time and frequency masks on training batches.

A batch x is [batch, time, channels] (MFCC or log-mel frames for the speech
tasks). Each sample draws its own `time_masks` spans of frames, each of a width
uniform in [0, time_mask_frames], and `freq_masks` spans of channels, of a
width uniform in [0, freq_mask_channels]; masked values become 0 (the features
are standardized per channel, so 0 is the mean). All draws come from the
caller's torch.Generator: the trainer's, saved in its checkpoints, so a run is
reproducible and resumes identically. With both counts 0 nothing is drawn and
x comes back as it is.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from codesign.config import ConfigError


@dataclass(frozen=True)
class SpecAugment:
    time_masks: int = 0  # masks per sample along time (0: off)
    time_mask_frames: int = 0  # widest time mask, frames
    freq_masks: int = 0  # masks per sample along channels (0: off)
    freq_mask_channels: int = 0  # widest frequency mask, channels

    @property
    def on(self) -> bool:
        return self.time_masks > 0 or self.freq_masks > 0

    def check_fits(self, time_steps: int, channels: int, task: str) -> None:
        """ConfigError naming the recipe key if a mask can be wider than the task's x."""
        for masks, width, key, size, what in ((self.time_masks, self.time_mask_frames, "time_mask_frames",
                                               time_steps, "time steps"),
                                              (self.freq_masks, self.freq_mask_channels, "freq_mask_channels",
                                               channels, "channels")):
            if masks > 0 and width > size:
                raise ConfigError(f"train.{key}: {width} is wider than the {size} {what} of task {task!r}")


def draw_spans(n: int, masks: int, max_width: int, length: int,
               generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Starts and widths [n, masks]: widths uniform in [0, max_width], each span inside [0, length)."""
    if not 0 <= max_width <= length:
        raise ValueError(f"mask width {max_width} outside [0, {length}]")
    width = torch.randint(0, max_width + 1, (n, masks), generator=generator)
    room = length - width + 1  # possible starts; float64 so the floor never reaches `room`
    start = (torch.rand(n, masks, generator=generator, dtype=torch.float64) * room).long()
    return torch.minimum(start, room - 1), width


def covered(start: torch.Tensor, width: torch.Tensor, length: int) -> torch.Tensor:
    """[n, length] bool: the positions inside any of the spans of each row."""
    pos = torch.arange(length)
    inside = (pos >= start[..., None]) & (pos < (start + width)[..., None])  # [n, masks, length]
    return inside.any(dim=1)


def spec_augment(x: torch.Tensor, aug: SpecAugment, generator: torch.Generator) -> torch.Tensor:
    """x [batch, time, channels] with each sample's masks set to 0 (a new tensor; x itself if off)."""
    if not aug.on:
        return x
    n, t, c = x.shape
    masked = torch.zeros(n, t, c, dtype=torch.bool)
    if aug.time_masks > 0:
        masked |= covered(*draw_spans(n, aug.time_masks, aug.time_mask_frames, t, generator), t)[:, :, None]
    if aug.freq_masks > 0:
        masked |= covered(*draw_spans(n, aug.freq_masks, aug.freq_mask_channels, c, generator), c)[:, None, :]
    return x.masked_fill(masked, 0.0)
