"""train -> map -> validate in one call, on a very small network (short ngspice run)."""

import json

from codesign.flow import DEFAULT_RECIPE, run_flow
from codesign.training.recipe import recipe_from_dict

SMALL_FLOW = {
    "name": "flow-small",
    "task": {"name": "cue_recall", "params": {"T": 12, "n_classes": 2, "n_train": 200, "n_val": 50, "n_test": 50}},
    "model": {"cell": "cmru", "hidden": 2, "levels": 2},
    "noise": {"weight_bits": 6},
    "train": {"epochs": 10, "batch_size": 25, "lr": 0.02},
}


def test_default_recipe_is_valid_and_fits_the_integrator():
    recipe = recipe_from_dict(DEFAULT_RECIPE)
    assert recipe.model.cell == "cmru" and recipe.model.levels == 2 and recipe.noise.weight_bits == 6


def test_flow_writes_one_report_folder(tmp_path):
    s = run_flow(tmp_path, sequences=1, level="network", workers=1, recipe=recipe_from_dict(SMALL_FLOW))
    for name in ["report.md", "flow.json", "run/best.pt", "run/curves.png", "map/network.spice",
                 "map/manifest.json", "map/quantization.md", "validation/summary.md", "validation/cosim.json",
                 "validation/network_layer0.png"]:
        assert (tmp_path / name).is_file(), name
    assert set(s["seconds"]) == {"train", "map", "validate"}
    net = json.loads((tmp_path / "validation" / "cosim.json").read_text())["network_level"]
    assert net["sequences"] == 1 and len(net["units"]) == 2
    report = (tmp_path / "report.md").read_text()
    assert "| train |" in report and "| map |" in report and "| validate (1 sequences x 12 steps" in report


def test_flow_recipe_file_and_overrides(tmp_path):
    import pytest

    from codesign.config import ConfigError
    from codesign.flow import flow_recipe

    assert flow_recipe(None, ["train.epochs=3"]).train.epochs == 3
    r = flow_recipe(__import__("pathlib").Path("training/flow_bmru_latch.toml"), ["seed=4"])
    assert (r.model.cell, r.seed) == ("bmru", 4)
    with pytest.raises(ConfigError, match="model.hidden"):
        flow_recipe(None, ["model.hidden=0"])
