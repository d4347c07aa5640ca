"""The house rules that keep the pipeline readable: the core imports no stage,
and a new hardware kind is one module (shown with a toy kind)."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from codesign.chip import ChipSpec
from codesign.config import ConfigError
from codesign.hardware import kinds
from codesign.hardware.cells import cell_library, latch
from codesign.hardware.kinds.base import HardwareKind
from codesign.hardware.params import LatchParams
from codesign.manifest import load_manifest
from codesign.mapping.mapper import build_netlists, check_fit, plan_network, write_map
from codesign.netlist import identifier
from codesign.training.recipe import recipe_from_dict
from codesign.training.tasks import make_task
from codesign.training.trainer import build_model

CORE = ["codesign.mru", "codesign.config", "codesign.netlist", "codesign.fsio", "codesign.cache",
        "codesign.hardware.params", "codesign.hardware.cells", "codesign.hardware.kinds", "codesign.chip",
        "codesign.manifest"]
STAGES = ("codesign.training", "codesign.mapping", "codesign.validation", "codesign.layout", "codesign.flow",
          "codesign.cli", "codesign.demo")


def test_the_core_imports_no_stage():
    code = (f"import sys\nfor m in {CORE!r}: __import__(m)\n"
            f"print([m for m in sys.modules if m.startswith({STAGES!r})])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", f"core modules pulled in stages: {out}"


# ---- a toy hardware kind: everything a kind is, in one class (the diff of a new kind) ----

class ToyHalfReset(HardwareKind):
    """eps = 0.5 on the latch cell: a toy to show the extension point, not a circuit of the contract."""

    name, eps, memory_type = "toy_half_reset", 0.5, LatchParams

    def levels(self, chip):
        return 1

    def memory(self, chip, alpha):
        return chip.latch(alpha)

    def t_transfer_s(self, chip):
        return chip.t_latch_transfer_s

    def t_layer_s(self, chip):
        return chip.t_compare_s + chip.t_latch_transfer_s + chip.t_edge_s

    def library(self, plan):
        return cell_library("logic", "comparator", "integrator", "latch")

    def unit_pins(self, plan):
        return ["in", "out", "q", "v", "phi_t", "rstb", "vdd"]

    def unit_body(self, plan, u):
        return latch(u.memory, "toy", "up", "dn", "phi_t", "rstb", "out", "q", "v")

    def instance_nodes(self, plan, u, inp, out, phi_t, phi_r):
        n = identifier(u.name, "unit name")
        return [inp, out, f"q_{n}", f"v_{n}", phi_t, "rstb", "vdd"]

    def shared_sources(self, plan, clocks, vdd_v):
        return [text.splitlines()[0] for text in clocks] + ["Vrst rstb 0 PWL(0 0 50e-6 0 60e-6 1.2)"]

    def state_saves(self, plan, units):
        return [f"v(q_{u.name})" for u in units]

    def read_levels(self, plan, trace, units, times_s):
        return np.stack([np.where(np.interp(times_s, trace["time"], trace.v(f"q_{u.name}")) > 0.6, 1, -1)
                         for u in units], axis=1)


class _Trace(dict):
    def v(self, node):
        return self[f"v({node})"]


def test_a_new_hardware_kind_is_one_module(monkeypatch, tmp_path):
    with pytest.raises(ConfigError, match="no hardware kind implements it"):
        from codesign.chip import chip_from_dict
        chip_from_dict({"eps": 0.5})
    monkeypatch.setitem(kinds.KINDS, ToyHalfReset.name, ToyHalfReset())
    chip = ChipSpec(eps=0.5)
    assert chip.hardware == "toy_half_reset" and chip.t_transfer_s == chip.t_latch_transfer_s
    recipe = recipe_from_dict({"name": "toy", "task": {"name": "cue_recall", "params": {
        "T": 10, "n_classes": 2, "n_train": 8, "n_val": 8, "n_test": 8}}, "model": {"cell": "cmru", "hidden": 2,
                                                                                   "levels": 1}})
    task = make_task(recipe.task.name, recipe.seed, **recipe.task.params)
    model = build_model(recipe, task)
    assert any("toy_half_reset hardware implements eps = 0.5" in p for p in check_fit(recipe, model, chip))
    model.set_eps(0.5)
    with torch.no_grad():
        model.layers[0].log_alpha.fill_(0.0)
    assert check_fit(recipe, model, chip) == []
    plan = plan_network(recipe, task, model, chip)
    texts = build_netlists(plan)
    assert "Xtoy up dn phi_t rstb toy_ir out q v vdd 0 mru_latch" in texts["units/layer0_u0.spice"]
    write_map(plan, tmp_path, recipe=recipe.to_dict())
    loaded, _ = load_manifest(tmp_path)
    assert loaded == plan and json.loads((tmp_path / "manifest.json").read_text())["hardware"] == "toy_half_reset"
    trace = _Trace({"time": np.array([0.0, 1.0]), "v(q_layer0_u0)": np.array([1.2, 0.0]),
                    "v(q_layer0_u1)": np.array([0.0, 0.0])})
    np.testing.assert_array_equal(chip.kind.read_levels(plan, trace, plan.units, np.array([0.1, 0.9])),
                                  [[1, -1], [-1, -1]])
