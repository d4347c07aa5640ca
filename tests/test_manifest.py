"""A manifest is read back like a chip spec: every value checked, every file inside its folder."""

import json
import shutil
from pathlib import Path

import pytest

from codesign.cli import main
from codesign.config import ConfigError
from codesign.manifest import load_manifest

GOLDEN = Path(__file__).parent / "golden" / "maps" / "cmru"


def _edited(tmp_path, edit) -> Path:
    folder = tmp_path / "map"
    shutil.copytree(GOLDEN, folder)
    data = json.loads((folder / "manifest.json").read_text())
    edit(data)
    (folder / "manifest.json").write_text(json.dumps(data))
    return folder


def _unit(data):
    return data["plan"]["layers"][0]["units"][0]


@pytest.mark.parametrize("edit,message", [
    (lambda d: _unit(d).update(file="../../outside.spice"), "units[0].file: '../../outside.spice' must be a relative"),
    (lambda d: _unit(d).update(file="/etc/passwd"), "units[0].file: '/etc/passwd' must be a relative path"),
    (lambda d: d["plan"]["layers"][0].update(name="../x"), "layers[0].name: must be a name"),
    (lambda d: _unit(d).update(name="u 1"), "units[0].name: must be a name"),
    (lambda d: d["plan"].update(levels=-1), "plan.levels: must be in [1, 8], got -1"),
    (lambda d: d["plan"].update(levels=3), "plan.levels: 3, but the chip's integrator hardware has 2"),
    (lambda d: _unit(d).update(beta=0), "units[0].beta: must be in"),
    (lambda d: _unit(d)["memory" if "memory" in _unit(d) else "integrator"].update(c_hold_f=-1.0), "c_hold_f"),
    (lambda d: d["plan"].pop("readout"), "plan.readout: missing"),
    (lambda d: d["plan"]["layers"][0]["weight"][0].pop(), "layers[0].weight[0]: must be a list of"),
    (lambda d: d["plan"]["chip"].update(name="a b"), "plan.chip.name: must be a name"),
    (lambda d: d.update(manifest_version=99), "manifest_version: this codesign reads 1 and 2, got 99"),
    (lambda d: d["files"].update(network="../../x.spice"), "files.network: '../../x.spice' must be a relative"),
    (lambda d: d["plan"].update(eps=1.0), "plan.eps: 1, but the chip's integrator hardware implements eps = 0"),
])
def test_bad_manifests_are_refused_naming_the_key(tmp_path, edit, message):
    folder = _edited(tmp_path, edit)
    with pytest.raises(ConfigError, match=r"manifest|plan|units|layers"):
        load_manifest(folder)
    try:
        load_manifest(folder)
    except ConfigError as err:
        assert message in str(err) and str(folder) in str(err)


def test_validate_refuses_a_bad_manifest_with_exit_2_and_writes_nothing(tmp_path, capsys):
    folder = _edited(tmp_path, lambda d: _unit(d).update(file="../escape.spice"))
    out = tmp_path / "v"
    assert main(["validate", str(folder), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "must be a relative path inside the map folder" in err and "Traceback" not in err
    assert not (tmp_path / "escape.spice").exists() and list(out.iterdir()) == []


@pytest.mark.parametrize("args,message", [
    (["--temp", "-300"], "--temp -300: must be in [-55, 150] C"),
    (["--sequences", "0"], "--sequences: must be in [1, 10000]"),
    (["--corner", "xx"], "--corner: unknown ['xx']"),
    (["--timeout", "0"], "--timeout: must be in (0, 604800] seconds"),
    (["--min-level-agreement", "1.5"], "--min-level-agreement: must be in [0, 1]"),
])
def test_validate_options_are_checked_before_any_work(tmp_path, capsys, args, message):
    assert main(["validate", str(GOLDEN), "--out", str(tmp_path / "v"), *args]) == 2
    assert message in capsys.readouterr().err


def test_a_readout_zero_a_network_netlist_cannot_take_is_refused_before_any_work(tmp_path, capsys):
    twolayer = Path(__file__).parent / "golden" / "maps" / "twolayer"
    assert main(["validate", str(twolayer), "--out", str(tmp_path / "v"), "--readout-zero", "reset"]) == 2
    assert "readout_zero: 'reset' reads each unit's own output current" in capsys.readouterr().err
    assert not any((tmp_path / "v").glob("*.json"))


def test_validate_on_a_file_or_into_a_file_is_refused(tmp_path, capsys):
    assert main(["validate", str(GOLDEN / "manifest.json")]) == 2
    assert "not a map folder" in capsys.readouterr().err
    target = tmp_path / "file"
    target.write_text("")
    assert main(["validate", str(GOLDEN), "--out", str(target)]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err


def test_an_output_folder_held_by_another_command_is_refused_naming_the_holder(tmp_path, capsys):
    from codesign.fsio import folder_lock

    out = tmp_path / "v"
    with folder_lock(out, "codesign validate (another one)"):
        assert main(["validate", str(GOLDEN), "--out", str(out), "--quiet"]) == 2
        err = capsys.readouterr().err
        assert "codesign validate (another one)" in err and str(out) in err
    assert not (out / "cosim.json").exists()


def test_every_command_refuses_an_output_path_that_is_a_file(tmp_path, capsys):
    target = tmp_path / "file"
    target.write_text("")
    root = Path(__file__).resolve().parents[1]
    commands = [["train", str(root / "training/flipflop.toml"), "--quiet"], ["validate", str(GOLDEN), "--quiet"],
                ["characterize", "--what", "hysteresis", "--quiet"], ["flow", "--quiet"],
                ["sweep", str(root / "validation/smoke.toml"), "--quiet"]]
    for args in commands:
        assert main([*args, "--out", str(target)]) == 2, args
        assert "is a file, not a folder" in capsys.readouterr().err, args
    assert target.read_text() == ""
