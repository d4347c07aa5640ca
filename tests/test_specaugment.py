"""SpecAugment: time and frequency masks drawn per sample, and their place in the training loop."""

import json

import pytest
import torch

from codesign.config import ConfigError
from codesign.training import trainer as trainer_module
from codesign.training.recipe import recipe_from_dict
from codesign.training.specaugment import SpecAugment, covered, draw_spans, spec_augment
from codesign.training.trainer import ADDED_TRAIN_KEYS, load_checkpoint, train

SMALL = {
    "name": "small",
    "task": {"name": "flipflop", "params": {"k": 2, "T": 30, "n_train": 64, "n_val": 32, "n_test": 32}},
    "model": {"cell": "cmru", "hidden": 4, "levels": 2},
    "train": {"epochs": 4, "batch_size": 16, "lr": 0.01, "checkpoint_every": 2},
}
MASKS = {"time_masks": 2, "time_mask_frames": 5, "freq_masks": 1, "freq_mask_channels": 1}


def _data(train=None, **sections):
    data = json.loads(json.dumps(SMALL))
    data["train"].update(train or {})
    data.update(sections)
    return data


def _gen(seed):
    return torch.Generator().manual_seed(seed)


# ---------- the masks ----------

def test_masks_have_the_drawn_widths_and_lie_within_bounds():
    n, t, c = 400, 30, 8
    aug = SpecAugment(time_masks=1, time_mask_frames=10, freq_masks=1, freq_mask_channels=3)
    g = _gen(3)
    t_start, t_width = draw_spans(n, 1, 10, t, g)
    f_start, f_width = draw_spans(n, 1, 3, c, g)
    for start, width, most, length in ((t_start, t_width, 10, t), (f_start, f_width, 3, c)):
        assert start.min() >= 0 and (start + width).max() <= length
        assert set(width.flatten().tolist()) == set(range(most + 1))  # every width in [0, most] occurs
    out = spec_augment(torch.ones(n, t, c), aug, _gen(3))  # the same draws, in the same order
    zero = out == 0
    # Neither mask can cover its whole axis here, so a frame zero on every channel is
    # time-masked and a channel zero on every frame is frequency-masked.
    assert torch.equal(zero.all(dim=2).sum(1), t_width[:, 0])
    assert torch.equal(zero.all(dim=1).sum(1), f_width[:, 0])
    assert torch.equal(zero, covered(t_start, t_width, t)[:, :, None] | covered(f_start, f_width, c)[:, None, :])


def test_several_masks_per_sample_are_the_union_of_their_spans():
    n, t, c = 50, 101, 13
    aug = SpecAugment(time_masks=2, time_mask_frames=10, freq_masks=2, freq_mask_channels=2)
    g = _gen(7)
    time = covered(*draw_spans(n, 2, 10, t, g), t)
    freq = covered(*draw_spans(n, 2, 2, c, g), c)
    out = spec_augment(torch.ones(n, t, c), aug, _gen(7))
    assert torch.equal(out == 0, time[:, :, None] | freq[:, None, :])
    assert time.sum(1).max() <= 20 and freq.sum(1).max() <= 4
    assert len({tuple(row.tolist()) for row in time}) > 1  # each sample draws its own masks


def test_values_outside_the_masks_are_untouched():
    x = torch.randn(32, 40, 6, generator=_gen(0))
    kept = x.clone()
    out = spec_augment(x, SpecAugment(3, 8, 2, 2), _gen(1))
    assert torch.equal(x, kept)  # the input is not changed in place
    masked = out == 0
    assert masked.any() and not masked.all()
    assert torch.equal(out[~masked], x[~masked])


def test_same_seed_same_masks_other_seed_other_masks():
    x = torch.ones(16, 50, 13)
    aug = SpecAugment(2, 10, 2, 2)
    a, b, other = (spec_augment(x, aug, _gen(s)) for s in (5, 5, 6))
    assert torch.equal(a, b)
    assert not torch.equal(a, other)


@pytest.mark.parametrize("aug", [SpecAugment(), SpecAugment(time_mask_frames=10, freq_mask_channels=2)])
def test_off_is_the_identity_and_draws_nothing(aug):
    x = torch.randn(8, 20, 4)
    g = _gen(2)
    state = g.get_state()
    assert spec_augment(x, aug, g) is x
    assert torch.equal(g.get_state(), state)


def test_a_mask_may_cover_the_whole_axis_but_not_more():
    out = spec_augment(torch.ones(200, 4, 3), SpecAugment(time_masks=1, time_mask_frames=4), _gen(0))
    assert (out == 0).all(dim=(1, 2)).any()  # some sample drew the full width
    with pytest.raises(ValueError, match="width 5"):
        spec_augment(torch.ones(2, 4, 3), SpecAugment(time_masks=1, time_mask_frames=5), _gen(0))
    SpecAugment(1, 4, 1, 3).check_fits(4, 3, "t")
    with pytest.raises(ConfigError, match="train.time_mask_frames: 5 is wider than the 4 time steps"):
        SpecAugment(1, 5).check_fits(4, 3, "t")
    with pytest.raises(ConfigError, match="train.freq_mask_channels: 4 is wider than the 3 channels"):
        SpecAugment(freq_masks=1, freq_mask_channels=4).check_fits(4, 3, "t")
    SpecAugment(0, 5, 0, 4).check_fits(4, 3, "t")  # widths of masks that are off do not matter


# ---------- the recipe ----------

def test_recipe_keys_default_to_off_and_build_the_settings():
    spec = recipe_from_dict(_data()).train
    assert (spec.time_masks, spec.freq_masks) == (0, 0) and not spec.spec_augment.on
    assert recipe_from_dict(_data(MASKS)).train.spec_augment == SpecAugment(**MASKS)


@pytest.mark.parametrize("change,message", [
    ({"time_masks": -1}, r"train.time_masks: must be in \[0, 100\]"),
    ({"time_masks": 1000}, r"train.time_masks: must be in \[0, 100\]"),
    ({"time_masks": 1.5}, "train.time_masks"),
    ({"time_masks": "two"}, "train.time_masks"),
    ({"time_mask_frames": -2}, "train.time_mask_frames"),
    ({"freq_masks": -1}, "train.freq_masks"),
    ({"freq_mask_channels": 0.5}, "train.freq_mask_channels"),
    ({"time_masks": 2}, "train.time_mask_frames: must be at least 1 with train.time_masks = 2"),
    ({"freq_masks": 1, "freq_mask_channels": 0}, "train.freq_mask_channels: must be at least 1"),
    ({"time_mask": 2}, "train.time_mask: unknown key"),
])
def test_bad_mask_keys_are_refused_with_the_key_named(change, message):
    with pytest.raises(ConfigError, match=message):
        recipe_from_dict(_data(change))


@pytest.mark.parametrize("change,message", [
    ({"time_masks": 1, "time_mask_frames": 31}, "train.time_mask_frames: 31 is wider than the 30 time steps"),
    ({"freq_masks": 1, "freq_mask_channels": 3}, "train.freq_mask_channels: 3 is wider than the 2 channels"),
])
def test_a_mask_wider_than_the_task_stops_training_before_it_starts(tmp_path, change, message):
    with pytest.raises(ConfigError, match=message):
        train(recipe_from_dict(_data(change)), tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


# ---------- the training loop ----------

def _weights(folder):
    return load_checkpoint(folder / "checkpoint.pt")["model"]


def _same(a, b):
    return all(torch.equal(a[key], b[key]) for key in a)


def _interrupt_after_second_epoch(epoch):
    if epoch == 1:
        raise KeyboardInterrupt


def test_training_with_masks_finishes_differs_from_plain_and_resumes_identically(tmp_path):
    plain = train(recipe_from_dict(_data()), tmp_path / "plain", progress=False)
    masked_recipe = recipe_from_dict(_data(MASKS))
    masked = train(masked_recipe, tmp_path / "masked", progress=False)
    assert masked["epochs"] == 4 and 0.0 <= masked["test_bit_accuracy"] <= 1.0
    assert not _same(_weights(tmp_path / "plain"), _weights(tmp_path / "masked"))
    # Widths without counts: nothing drawn, the plain run exactly.
    inert = train(recipe_from_dict(_data({"time_mask_frames": 5, "freq_mask_channels": 1})),
                  tmp_path / "inert", progress=False)
    assert _same(_weights(tmp_path / "plain"), _weights(tmp_path / "inert"))
    assert inert["test_bit_accuracy"] == plain["test_bit_accuracy"]
    # The masks come from the checkpointed generator: a resumed run ends where a straight one does.
    with pytest.raises(KeyboardInterrupt):
        train(masked_recipe, tmp_path / "resumed", progress=False, on_epoch_end=_interrupt_after_second_epoch)
    train(masked_recipe, tmp_path / "resumed", progress=False)
    assert _same(_weights(tmp_path / "masked"), _weights(tmp_path / "resumed"))


def test_a_run_checkpointed_before_the_mask_keys_existed_still_resumes(tmp_path):
    recipe = recipe_from_dict(_data())
    train(recipe, tmp_path / "straight", progress=False)
    old = tmp_path / "old"
    with pytest.raises(KeyboardInterrupt):
        train(recipe, old, progress=False, on_epoch_end=_interrupt_after_second_epoch)
    # Rewrite the checkpoint as the trainer wrote it before: its recipe without the keys.
    ckpt = load_checkpoint(old / "checkpoint.pt")
    for key in ADDED_TRAIN_KEYS:
        del ckpt["recipe"]["train"][key]
    (old / "checkpoint.pt").write_bytes(trainer_module._pt_bytes(ckpt))
    assert "time_masks" not in load_checkpoint(old / "checkpoint.pt")["recipe"]["train"]
    with pytest.raises(trainer_module.RunMismatch, match="different recipe"):
        train(recipe_from_dict(_data(MASKS)), old, progress=False)  # masks on: another recipe
    train(recipe, old, progress=False)
    assert _same(_weights(tmp_path / "straight"), _weights(old))
