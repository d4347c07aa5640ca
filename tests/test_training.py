"""Cells, noise, schedules, recipes and the training loop."""

import json
import math
import subprocess
import sys

import numpy as np
import pytest
import torch

from codesign.config import ConfigError
from codesign.mru import reference
from codesign.training import trainer as trainer_module
from codesign.training.models import ModelConfig, Network
from codesign.training.noise import Chip, IdealChip, NoiseProfile, load_noise_profile, quantize_weights
from codesign.training.recipe import load_recipe, recipe_from_dict
from codesign.training.scan import linear_scan
from codesign.training.schedules import EpsSchedule
from codesign.training.trainer import TrainingDiverged, load_checkpoint, train

SMALL = {
    "name": "small",
    "task": {"name": "flipflop", "params": {"k": 2, "T": 30, "n_train": 64, "n_val": 32, "n_test": 32}},
    "model": {"cell": "cmru", "hidden": 4, "levels": 2},
    "train": {"epochs": 4, "batch_size": 16, "lr": 0.01, "checkpoint_every": 2},
}


def _recipe(**changes):
    data = json.loads(json.dumps(SMALL))
    for key, value in changes.items():
        section, _, name = key.partition("__")
        data.setdefault(section, {})[name] = value
    return recipe_from_dict(data)


# ---------- cells ----------

@pytest.mark.parametrize("cell,levels", [("cmru", 3), ("bmru", 1), ("cmru", None)])
def test_mru_network_is_the_exact_unit_without_noise(cell, levels):
    torch.manual_seed(0)
    net = Network(3, 2, ModelConfig(cell=cell, hidden=5, levels=levels)).double()
    x = torch.randn(4, 40, 3, dtype=torch.float64)
    layer = net.layers[0]
    z = layer.input(x).detach().numpy()
    alpha, beta, bound = (None if v is None else v.detach().numpy() for v in layer.unit_parameters())
    want = reference(z, alpha, beta, layer.eps.item(), bound)
    np.testing.assert_allclose(net.states(x)[0].detach().numpy(), want, atol=1e-9)


def test_alpha_cmru_uses_input_dependent_increments():
    torch.manual_seed(1)
    net = Network(3, 2, ModelConfig(cell="alpha_cmru", hidden=4, levels=2)).double()
    x = torch.randn(2, 30, 3, dtype=torch.float64)
    layer = net.layers[0]
    alpha_max, beta, _ = (v.detach().numpy() for v in layer.unit_parameters())
    alpha_t = alpha_max * torch.sigmoid(layer.gate(x)).detach().numpy()
    want = reference(layer.input(x).detach().numpy(), alpha_t, beta, 0.0, 2 * alpha_max)
    np.testing.assert_allclose(net.states(x)[0].detach().numpy(), want, atol=1e-9)
    assert len(np.unique(np.round(want / alpha_max, 6))) > 10  # not quantized any more


def test_a_mean_readout_reads_the_states_mean_over_the_sequence_and_needs_one_output_per_sequence():
    torch.manual_seed(0)
    net = Network(3, 5, ModelConfig(cell="cmru", hidden=4, readout_pool="mean"), readout="last")
    x = torch.randn(2, 7, 3)
    run = net.run(x)
    assert net.readout_mode == "mean" and run.y.shape == (2, 5)
    assert torch.allclose(run.y, net.readout(run.states[-1].mean(1)))
    assert not torch.allclose(run.y, net.readout(run.states[-1][:, -1]))
    with pytest.raises(ValueError, match="readout_pool = 'mean'.*'per_step'"):
        Network(3, 5, ModelConfig(cell="cmru", hidden=4, readout_pool="mean"), readout="per_step")


def test_stacked_layers_with_skip_and_per_step_readout():
    net = Network(3, 5, ModelConfig(cell="cmru", hidden=4, layers=3, skip=True), readout="per_step")
    assert net.layers[1].input.in_features == 4 + 3
    assert net.layers[2].input.in_features == 4 + 7
    out = net(torch.randn(2, 9, 3))
    assert out.shape == (2, 9, 5)


def test_baselines_match_sequential_loops():
    torch.manual_seed(0)
    a = torch.complex(torch.rand(2, 50, 3), torch.rand(2, 50, 3)) * 0.9
    b = torch.complex(torch.randn(2, 50, 3), torch.randn(2, 50, 3))
    h, want = torch.zeros(2, 3, dtype=a.dtype), []
    for t in range(50):
        h = a[:, t] * h + b[:, t]
        want.append(h)
    torch.testing.assert_close(linear_scan(a, b), torch.stack(want, 1))
    net = Network(3, 2, ModelConfig(cell="mingru", hidden=4))
    x = torch.randn(2, 20, 3)
    layer = net.layers[0]
    g, cand = torch.sigmoid(layer.gate(x)), layer.candidate(x)
    h, want = torch.zeros(2, 4), []
    for t in range(20):
        h = (1 - g[:, t]) * h + g[:, t] * cand[:, t]
        want.append(h)
    torch.testing.assert_close(net.states(x)[0], torch.stack(want, 1))
    lru = Network(3, 2, ModelConfig(cell="lru", hidden=4))
    out = lru(x)
    out.sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in lru.parameters())


def test_gradients_reach_every_mru_parameter():
    net = Network(3, 2, ModelConfig(cell="alpha_cmru", hidden=4, layers=2, surrogate_width=1.0))
    net(torch.randn(8, 30, 3) * 2).pow(2).sum().backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


# ---------- noise ----------

def test_noise_profile_presets_files_and_errors(tmp_path):
    assert load_noise_profile("ideal").is_ideal
    assert load_noise_profile("sky130_typical").weight_bits == 6
    f = tmp_path / "p.toml"
    f.write_text('preset = "sky130_typical"\nz_noise_std = 0.1\n')
    assert load_noise_profile(f).z_noise_std == 0.1
    assert load_noise_profile(f).alpha_mismatch_rel == 0.05
    f.write_text("z_noise = 0.1\n")
    with pytest.raises(ConfigError, match="z_noise: unknown key"):
        load_noise_profile(f)
    f.write_text("weight_bits = 1\n")
    with pytest.raises(ConfigError, match="weight_bits"):
        load_noise_profile(f)
    with pytest.raises(ConfigError, match="neither a preset"):
        load_noise_profile("loud")


@pytest.mark.parametrize("bits", [2, 3, 4, 6, 8])
def test_quantization_has_2_to_the_b_minus_1_symmetric_levels_and_passes_gradient(bits):
    steps = 2 ** (bits - 1) - 1  # per side; with 0: 2^b - 1 levels
    w = torch.linspace(-1.3, 1.3, 4001, requires_grad=True)  # every level is hit
    q = quantize_weights(w, bits)
    levels = torch.unique(q.detach())
    assert len(levels) == 2**bits - 1
    scale = 1.3 / steps
    torch.testing.assert_close(levels, torch.arange(-steps, steps + 1) * scale)  # symmetric, evenly spaced
    assert (q - w).abs().max() <= scale / 2 + 1e-6  # round to nearest
    q.sum().backward()
    assert torch.equal(w.grad, torch.ones_like(w))
    assert quantize_weights(w, None) is w


def test_chip_noise_is_static_per_chip_and_off_when_ideal():
    torch.manual_seed(0)
    net = Network(3, 2, ModelConfig(cell="cmru", hidden=6))
    x = torch.randn(4, 50, 3)
    profile = NoiseProfile(alpha_mismatch_rel=0.2, weight_mismatch_rel=0.2)
    g = torch.Generator().manual_seed(0)
    chip = Chip(profile, g)
    assert torch.equal(net(x, chip), net(x, chip))  # same chip: same mismatch
    assert not torch.equal(net(x, chip), net(x, Chip(profile, g)))  # another chip
    assert torch.equal(net(x, IdealChip(profile)), net(x))
    dynamic = Chip(NoiseProfile(z_noise_std=0.3), g)
    assert not torch.equal(net(x, dynamic), net(x, dynamic))  # fresh every step


# ---------- schedules ----------

def test_eps_schedules():
    lin = EpsSchedule(kind="linear", start=0, end=1, begin=2, length=5)
    assert [lin.value(e, 0) for e in (0, 2, 4, 6, 9)] == [0, 0, 0.5, 1, 1]
    cos = EpsSchedule(kind="cosine", start=0, end=1, begin=0, length=3)
    assert [round(cos.value(e, 0), 6) for e in (0, 1, 2)] == [0, 0.5, 1]
    step = EpsSchedule(kind="step", start=0, end=1, begin=0, length=5, n_steps=2)
    assert [step.value(e, 0) for e in range(5)] == [0, 0, 0.5, 0.5, 1]
    per_step = EpsSchedule(kind="linear", start=1, end=0, per="step", begin=10, length=11)
    assert per_step.value(99, 15) == 0.5
    assert EpsSchedule(kind="constant", start=0.3).value(7, 7) == 0.3


# ---------- recipes ----------

@pytest.mark.parametrize("change,message", [
    ({"model": {"hiden": 8}}, "model.hiden: unknown key"),
    ({"model": {"hidden": "eight"}}, "model.hidden: must be an integer"),
    ({"model": {"hidden": 0}}, r"model.hidden: must be in \[1, 4096\]"),
    ({"model": {"cell": "gru"}}, "model.cell: must be one of"),
    ({"train": {"lr": -1}}, r"train.lr: must be in .0, 1.0\]"),
    ({"train": {"lr": 1e300}}, r"train.lr: must be in .0, 1.0\], got 1e\+300"),
    ({"train": {"batch_size": 10**9}}, r"train.batch_size: must be in \[1, 65536\]"),
    ({"train": {"epochs": 10**6}}, r"train.epochs: must be in \[1, 100000\]"),
    ({"name": "run\n"}, "name: letters, digits"),
    ({"eps": {"kind": "linear", "end": 2}}, r"eps.end: must be in \[0, 1\]"),
    ({"task": {"name": "flipflop", "params": {"bits": 3}}}, "task.params.bits: unknown parameter"),
    ({"task": {"name": "mnist"}}, "task.name: unknown task"),
    ({"noise": {"profile": "ideal", "z_noise_std": -1}}, "noise.z_noise_std"),
    ({"model": {"cell": "bmru", "levels": 3}}, "levels = 1"),
    ({"extra": 1}, "extra: unknown key"),
    ({"train": {"threshold_margin": 0.7}}, r"train.threshold_margin: must be in \[0, 0.5\]"),
    ({"model": {"cell": "lru"}, "train": {"threshold_margin": 0.05}}, "train.threshold_margin: cell 'lru'"),
    ({"train": {"row_current_max_i_unit": -1}}, r"train.row_current_max_i_unit: must be in \[0, 1000000"),
    ({"model": {"cell": "mingru"}, "train": {"row_current_max_i_unit": 10}},
     "train.row_current_max_i_unit: cell 'mingru'"),
])
def test_bad_recipes_are_refused_with_the_key_named(change, message):
    data = json.loads(json.dumps(SMALL))
    for section, value in change.items():
        if isinstance(value, dict) and isinstance(data.get(section), dict) and section != "task":
            data[section].update(value)
        else:
            data[section] = value
    with pytest.raises(ConfigError, match=message):
        recipe_from_dict(data)


def test_recipe_files_in_the_repo_load(tmp_path):
    from pathlib import Path
    files = sorted(Path("training").glob("*.toml"))
    assert len(files) >= 6
    for path in files:
        assert load_recipe(path).name
    r = load_recipe(Path("training/flipflop.toml"), ["model.cell=lru", "train.epochs=3"], seed=7)
    assert (r.model.cell, r.train.epochs, r.seed) == ("lru", 3, 7)
    with pytest.raises(ConfigError, match="expected key=value"):
        load_recipe(Path("training/flipflop.toml"), ["model.cell"])


# ---------- the training loop ----------

def test_train_writes_safe_checkpoints_log_and_plot(tmp_path):
    metrics = train(_recipe(), tmp_path, progress=False)
    for name in ["checkpoint.pt", "best.pt", "epoch_0002.pt", "epoch_0004.pt", "log.csv",
                 "curves.png", "checkpoint.json", "metrics.json"]:
        assert (tmp_path / name).exists(), name
    ckpt = load_checkpoint(tmp_path / "checkpoint.pt")  # weights_only=True inside
    assert ckpt["state"]["epoch"] == 4
    assert len((tmp_path / "log.csv").read_text().strip().splitlines()) == 1 + 4
    info = json.loads((tmp_path / "checkpoint.json").read_text())
    assert info["recipe"]["model"]["cell"] == "cmru"
    assert 0.0 <= metrics["test_bit_accuracy"] <= 1.0


def test_resume_after_interruption_ends_where_an_uninterrupted_run_does(tmp_path):
    recipe = _recipe()
    train(recipe, tmp_path / "straight", progress=False)

    def interrupt(epoch):
        if epoch == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(recipe, tmp_path / "resumed", progress=False, on_epoch_end=interrupt)
    assert load_checkpoint(tmp_path / "resumed" / "checkpoint.pt")["state"]["epoch"] == 2
    train(recipe, tmp_path / "resumed", progress=False)
    a = load_checkpoint(tmp_path / "straight" / "checkpoint.pt")["model"]
    b = load_checkpoint(tmp_path / "resumed" / "checkpoint.pt")["model"]
    for key in a:
        assert torch.equal(a[key], b[key]), key
    log_a = (tmp_path / "straight" / "log.csv").read_text().splitlines()
    log_b = (tmp_path / "resumed" / "log.csv").read_text().splitlines()
    assert [row.split(",")[:7] for row in log_a] == [row.split(",")[:7] for row in log_b]


def test_resume_refuses_another_recipe(tmp_path):
    train(_recipe(), tmp_path, progress=False)
    with pytest.raises(trainer_module.RunMismatch, match="different recipe"):
        train(_recipe(model__hidden=5), tmp_path, progress=False)


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    real, calls = trainer_module.loss_and_metric, []

    def nan_in_epoch_3(task, out, y):
        loss, metric = real(task, out, y)
        if torch.is_grad_enabled():
            calls.append(1)
            if len(calls) > 2 * 4:  # 4 training steps per epoch
                loss = loss * math.nan
        return loss, metric

    monkeypatch.setattr(trainer_module, "loss_and_metric", nan_in_epoch_3)
    with pytest.raises(TrainingDiverged, match=r"epoch 3.*last good checkpoint \(epoch 2\)"):
        train(_recipe(), tmp_path, progress=False)
    assert load_checkpoint(tmp_path / "checkpoint.pt")["state"]["epoch"] == 2
    assert len((tmp_path / "log.csv").read_text().strip().splitlines()) == 1 + 2


def test_eps_annealing_reaches_bmru(tmp_path):
    recipe = _recipe(eps__kind="linear", eps__start=0.0, eps__end=1.0, eps__per="step",
                     eps__begin=0, eps__length=8)
    train(recipe, tmp_path, progress=False)
    rows = (tmp_path / "log.csv").read_text().splitlines()[1:]
    eps = [float(r.split(",")[2]) for r in rows]
    assert eps[0] < 1 and eps[-1] == 1.0
    # best.pt is chosen among epochs at the target eps only: it is a BMRU.
    assert load_checkpoint(tmp_path / "best.pt")["model"]["layers.0.eps"].item() == 1.0


def test_cli_train_help_and_bad_recipe(tmp_path):
    run = lambda *a: subprocess.run([sys.executable, "-m", "codesign", *a],  # noqa: E731
                                    capture_output=True, text=True)
    assert "--set" in run("train", "--help").stdout
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\n[task]\nname = "flipflop"\n[model]\nhidden = "big"\n')
    result = run("train", str(bad), "--out", str(tmp_path / "run"))
    assert result.returncode == 2
    assert "model.hidden: must be an integer" in result.stderr


# ---------- threshold margin ----------

def test_threshold_margin_penalty_pushes_z_away_from_the_nearer_threshold():
    from codesign.training.unit import threshold_margin_penalty

    z_rel = torch.tensor([1.0, 0.98, 1.02, -1.01, -0.5, 1.2], requires_grad=True)
    per_value = [threshold_margin_penalty(z_rel[i:i + 1], 0.05).item() for i in range(len(z_rel))]
    assert per_value == pytest.approx([1.0, 0.6, 0.6, 0.8, 0.0, 0.0])
    threshold_margin_penalty(z_rel, 0.05).backward()
    g = z_rel.grad.numpy()  # descent moves z by -g
    assert g[1] > 0 and g[2] < 0  # 0.98 goes down, 1.02 goes up: away from +beta
    assert g[3] > 0  # -1.01 goes further below -beta
    assert g[4] == 0 and g[5] == 0  # beyond the margin: untouched
    with pytest.raises(ValueError, match="threshold margin"):
        threshold_margin_penalty(z_rel, 0.0)


# ---------- row current ----------

def test_row_current_is_each_rows_synapse_currents_in_i_unit():
    from codesign.training.models import ModelConfig, MRULayer

    torch.manual_seed(0)
    layer = MRULayer(3, ModelConfig(cell="cmru", hidden=2, levels=2), "layer0")
    with torch.no_grad():
        layer.input.weight.copy_(torch.tensor([[1.0, -2.0, 0.5], [0.0, 3.0, -1.0]]))
        layer.log_beta.copy_(torch.log(torch.tensor([0.5, 2.0])))
    x = torch.tensor([[[1.0, 1.0, -2.0], [0.0, -1.0, 4.0]]])  # [B=1, T=2, n_in=3]
    expected = torch.tensor([[[(1 + 2 + 1) / 0.5, (0 + 3 + 2) / 2.0], [(0 + 2 + 2) / 0.5, (0 + 3 + 4) / 2.0]]])
    torch.testing.assert_close(layer.row_current(x), expected)  # the bias carries no signal current


def test_row_current_penalty_acts_only_above_the_limit():
    from codesign.training.unit import row_current_penalty

    rows = torch.tensor([2.0, 10.0, 15.0, 40.0], requires_grad=True)
    per_value = [row_current_penalty(rows[i:i + 1], 10.0).item() for i in range(len(rows))]
    assert per_value == pytest.approx([0.0, 0.0, 0.5, 3.0])
    row_current_penalty(rows, 10.0).backward()
    assert rows.grad.tolist() == pytest.approx([0.0, 0.0, 0.025, 0.025])  # linear: the far row pulls no harder
    with pytest.raises(ValueError, match="row current limit"):
        row_current_penalty(rows, 0.0)


def test_row_current_limit_lowers_what_the_rows_carry(tmp_path):
    """The cue-recall default, trained as it is and with its rows limited to a quarter of
    what they carried: the limit cuts the largest row currents, and the metric reports them."""
    from codesign.flow import DEFAULT_RECIPE

    data = json.loads(json.dumps(DEFAULT_RECIPE))
    data["train"]["epochs"] = 20
    plain = train(recipe_from_dict(data), tmp_path / "plain", progress=False)
    limit = plain["test_row_current_i_unit"]["p99"] / 4
    data["train"]["row_current_max_i_unit"] = limit
    limited = train(recipe_from_dict(data), tmp_path / "limited", progress=False)
    before, after = plain["test_row_current_i_unit"], limited["test_row_current_i_unit"]
    assert before["mean"] <= before["p99"] <= before["max"]
    assert after["p99"] < before["p99"] / 2 and after["mean"] < before["mean"]
    assert limited["test_accuracy"] >= 0.9  # measured 0.94 against 0.99 unlimited (2026-12-04)


def test_threshold_margin_training_clears_the_thresholds(tmp_path):
    """The flow's default recipe (cue recall, real noise inputs): without the margin some percent of
    the test z lie within 3 % of +-beta; with it (10 %) almost none do, at the same accuracy."""
    from codesign.flow import DEFAULT_RECIPE

    data = json.loads(json.dumps(DEFAULT_RECIPE))
    assert data["train"]["threshold_margin"] == 0.1
    margin = train(recipe_from_dict(data), tmp_path / "margin", progress=False)
    data["train"]["threshold_margin"] = 0.0
    plain = train(recipe_from_dict(data), tmp_path / "plain", progress=False)
    assert plain["test_near_threshold"]["0.03"] > 0.005
    assert margin["test_near_threshold"]["0.03"] < plain["test_near_threshold"]["0.03"] / 10
    assert margin["test_accuracy"] >= 0.97
    log = (tmp_path / "margin" / "log.csv").read_text().splitlines()
    assert "val_near_threshold" in log[0] and log[-1].split(",")[7] != ""
