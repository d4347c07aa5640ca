"""`codesign calibrate`: the cells' Monte Carlo through the sweep engine, written as a noise
profile that training reads. A real run on two chips of a one-level chip (seconds), its resume,
the statistics against the stored points, and bad input refused by name."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from codesign import cli
from codesign.training.noise import PRESETS, load_noise_profile
from codesign.training.recipe import recipe_from_dict
from codesign.validation.calibrate import measured


def _calibrate(tmp_path, *extra) -> int:
    return cli.main(["calibrate", "--chip-set", "levels=1", "--samples", "2", "--seed", "3", "--workers", "1",
                     "--out", str(tmp_path / "cal" / "profile.toml"), "--quiet", *extra])


def test_calibrate_writes_a_profile_training_reads_and_resumes(tmp_path, capsys):
    code = _calibrate(tmp_path)
    work = tmp_path / "cal" / "profile_mc"
    counts = {job: json.loads((work / job / "results.json").read_text())["counts"]
              for job in ("hysteresis", "level_trips", "packets")}
    assert code == (0 if all(n["failed"] == 0 for n in counts.values()) else 1)
    assert all(n["points"] == 2 and n["computed"] == 2 for n in counts.values())
    text = (tmp_path / "cal" / "profile.toml").read_text()
    stats = json.loads((work / "calibration.json").read_text())
    profile = load_noise_profile(tmp_path / "cal" / "profile.toml")
    assert profile.beta_mismatch_rel == pytest.approx(stats["beta_mismatch_rel"], rel=1e-3)
    assert profile.alpha_mismatch_rel == pytest.approx(stats["alpha_mismatch_rel"], rel=1e-3)
    assert 0 < profile.beta_mismatch_rel < 1 and 0 < profile.alpha_mismatch_rel < 1
    typical = PRESETS["sky130_typical"]  # the fields not measured come from the base preset
    assert (profile.z_noise_std, profile.weight_mismatch_rel) == (typical.z_noise_std, typical.weight_mismatch_rel)
    # the sources, as comment lines: command, chips, benches
    assert "# Command: " in text and "Monte Carlo chips 3..4" in text and "2 of 2 chips" in text
    assert "hysteresis bench" in text and "packets bench" in text and "level_trips bench" in text
    # a recipe next to the profile names it
    recipe = recipe_from_dict({"name": "r", "task": {"name": "flipflop"}, "noise": {"profile": "profile.toml"}},
                              tmp_path / "cal")
    assert recipe.noise == profile
    # the reports of each bench, with the histograms
    assert (work / "hysteresis" / "mc_up_on_in_beta.png").is_file() and (work / "packets" / "report.html").is_file()
    # a second run reads every point from the cache: the same sigmas
    capsys.readouterr()
    assert _calibrate(tmp_path) == code
    again = {job: json.loads((work / job / "results.json").read_text())["counts"] for job in counts}
    assert all(n["computed"] == 0 and n["from_cache"] == 2 for n in again.values())
    assert json.loads((work / "calibration.json").read_text())["beta_mismatch_rel"] == stats["beta_mismatch_rel"]


def _rec(job, figures, status="done"):
    return {"status": status, "figures": figures}


def test_sigmas_are_the_pooled_spread_of_the_stored_points():
    """Without ngspice: known figures in, the pooled sigmas out; a chip that never switched is left out."""
    up, dn = [0.1, 0.3, 0.5], [-0.2, 0.0, -0.1]  # dn trip - threshold: half-width errors 0.2, 0.0, 0.1
    hyst = [_rec("h", {"up_on_in_beta": u, "dn_on_in_beta": d}) for u, d in zip(up, dn)]
    hyst.append(_rec("h", {"up_on_in_beta": math.nan, "dn_on_in_beta": math.nan}))
    pk = [_rec("p", {"packet_up_rel": a, "packet_dn_rel": b, "readout_gain_rel": g, "wrong_levels": w})
          for a, b, g, w in ((0.1, 0.0, 0.02, 0), (0.2, 0.02, -0.02, 1), (0.15, 0.04, 0.0, 0))]
    trips = [_rec("t", {"trip_errors_v": [0.01, 0.012]}), _rec("t", {"trip_errors_v": [-0.01, -0.008]})]
    m = measured({"hysteresis": hyst, "level_trips": trips, "packets": pk})
    half_dn = [0.2, 0.0, 0.1]
    dev = np.r_[np.subtract(up, np.mean(up)), np.subtract(half_dn, np.mean(half_dn))]
    assert m["beta_mismatch_rel"] == pytest.approx(np.sqrt(np.sum(dev**2) / 4))
    assert m["hysteresis"]["up_on_in_beta"]["missing"] == 1 and m["hysteresis"]["up_on_in_beta"]["n"] == 3
    assert m["chips_with_wrong_levels"] == 1
    assert m["level_trips"]["trip_errors_v[0]"]["sigma"] == pytest.approx(np.std([10, -10], ddof=1))  # mV
    readout = measured({"hysteresis": hyst, "level_trips": trips, "packets": pk}, alpha_from="readout")
    assert readout["alpha_mismatch_rel"] == pytest.approx(0.02)


@pytest.mark.parametrize("args, message", [
    (["--samples", "1"], "--samples 1: must be in [2, 10000]"),
    (["--seed", "0"], "--seed 0: must be in"),
    (["--out", "p.json"], "--out p.json: the profile is a .toml file"),
    (["--base", "nope"], "--base nope: must be one of"),
    (["--corner", "tt_mm"], "--corner tt_mm: a plain corner"),
    (["--chip", "sky130_latch"], "calibrate measures the integrator hardware's cells"),
    (["--chip-set", "levelz=1"], "levelz: unknown key"),
    (["--temp", "300"], "--temp 300: must be in"),
    (["--workers", "0"], "--workers 0: must be in [1, 512]"),
])
def test_bad_input_exits_2_naming_the_option(tmp_path, monkeypatch, capsys, args, message):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["calibrate", "--quiet", *args]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()  # refused before any work


def test_an_edited_profile_is_refused_naming_the_file_and_key(tmp_path):
    from codesign.config import ConfigError

    f = tmp_path / "profile.toml"
    f.write_text('# measured\npreset = "sky130_typical"\nbeta_mismatch_rel = 1.5\n')
    with pytest.raises(ConfigError, match=rf"^{f}: noise.beta_mismatch_rel: must be in \[0, 1\], got 1.5"):
        load_noise_profile(f)
    with pytest.raises(ConfigError, match=f"^{f}: noise.beta_mismatch: unknown key"):
        f.write_text("beta_mismatch = 0.1\n")
        load_noise_profile(f)
