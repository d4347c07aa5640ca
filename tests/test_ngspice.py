"""The ngspice runner: results, parallel runs, and clear errors that keep the netlist."""

import numpy as np
import pytest

from codesign.validation import ngspice
from codesign.validation.ngspice import Job, run, run_many

DIVIDER = "* divider\nV1 a 0 {v}\nR1 a b 1k\nR2 b 0 3k\n.tran 1e-6 1e-5\n.end\n"
SLOW = "* slow\nV1 a 0 SIN(0 1 1e6)\nR1 a 0 1k\n.tran 1e-12 1\n.end\n"  # ngspice busy for minutes


def test_runs_and_reads_vectors():
    res = run(DIVIDER.format(v=2.0), name="divider")
    np.testing.assert_allclose(res.v("b"), 1.5, rtol=1e-9)
    np.testing.assert_allclose(res.i("v1"), -0.5e-3, rtol=1e-9)
    assert res.netlist is None  # success: folder cleaned


def test_parallel_runs_keep_job_order():
    results = run_many([Job(DIVIDER.format(v=v), name=f"d{k}") for k, v in enumerate([1.0, 2.0, 4.0])], workers=2)
    assert [float(r.v("b")[-1]) for r in results] == pytest.approx([0.75, 1.5, 3.0])


def test_missing_models_name_the_kept_netlist():
    with pytest.raises(ngspice.ModelsMissing, match=r"netlist kept at .*missing\.cir") as err:
        run('* m\n.include "/nonexistent/models.spice"\nV1 a 0 1\nR1 a 0 1k\n.op\n.end\n', name="missing")
    assert err.value.netlist.is_file()
    assert "Could not find include file" in str(err.value)


def test_a_transistor_size_outside_every_model_bin_is_named_as_such():
    """sky130's nfet_01v8 bins end at L = 20 um: ngspice says only 'could not find a valid modelname'."""
    from codesign.hardware.params import Supply
    from codesign.validation.benches import header

    net = header("longl", Supply(vdd_v=1.8, corner="tt", temp_c=27.0)) + [
        "V1 d 0 0.6", "XM1 d d 0 0 sky130_fd_pr__nfet_01v8 w=1 l=32", ".op", ".end"]
    with pytest.raises(ngspice.ModelsMissing, match=r"no model bin for \S*xm1\S* \(W 1 um, L 32 um\).*longl\.cir"):
        run("\n".join(net) + "\n", name="longl")


def test_no_convergence_is_reported():
    with pytest.raises(ngspice.NoConvergence, match="singular"):
        run("* loop\nV1 a 0 1\nV2 a 0 2\n.op\n.end\n", name="loop")


@pytest.mark.skipif(not ngspice._SETPRIV, reason="util-linux's setpriv is not installed")
def test_ngspice_dies_with_the_process_that_started_it():
    """A sweep worker killed by its cluster must not leave its ngspice running to the timeout."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    name = f"orphan{os.getpid()}"
    child = subprocess.Popen([sys.executable, "-c", "from codesign.validation.ngspice import run; "
                              f"run({SLOW!r}, name={name!r}, timeout_s=120)"])

    def running() -> bool:
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                if f"{name}.cir".encode() in cmdline.read_bytes():
                    return True
            except OSError:
                pass
        return False

    deadline = time.monotonic() + 30
    while not running():
        assert child.poll() is None and time.monotonic() < deadline, "ngspice never started"
        time.sleep(0.1)
    child.send_signal(signal.SIGKILL)
    child.wait()
    deadline = time.monotonic() + 10
    while running() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not running()


def test_timeout_kills_and_keeps_netlist():
    with pytest.raises(ngspice.NgspiceTimeout, match=r"within 0.5 s .*slow\.cir"):
        run(SLOW, name="slow", timeout_s=0.5)


def test_missing_binary_is_reported(monkeypatch):
    monkeypatch.setattr(ngspice.shutil, "which", lambda _: None)
    with pytest.raises(ngspice.NgspiceNotFound, match="apt-get install ngspice"):
        run(DIVIDER.format(v=1.0), name="nobin")


def test_run_name_is_checked():
    with pytest.raises(ValueError, match="run name"):
        run(DIVIDER.format(v=1.0), name="../x")


def test_a_truncated_raw_file_is_a_simulator_failure_naming_the_netlist(monkeypatch):
    read = ngspice.read_raw

    def truncated(path):
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
        return read(path)

    monkeypatch.setattr(ngspice, "read_raw", truncated)
    with pytest.raises(ngspice.NgspiceError, match=r"unreadable .*netlist kept at .*torn\.cir"):
        run(DIVIDER.format(v=1.0), name="torn")


def test_simulator_failures_exit_2_with_one_line(monkeypatch, tmp_path, capsys):
    from pathlib import Path

    from codesign.cli import main

    monkeypatch.setattr(ngspice.shutil, "which", lambda _: None)
    golden = Path(__file__).parent / "golden" / "maps" / "cmru"
    code = main(["validate", str(golden), "--sequences", "1", "--quiet", "--out", str(tmp_path / "v")])
    err = capsys.readouterr().err
    assert code == 2 and "ngspice not found on PATH" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
