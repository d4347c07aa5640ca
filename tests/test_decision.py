"""The latched decision near a threshold (real sky130 runs, tt 27 C)."""

from codesign.chip import ChipSpec
from codesign.validation.decision import decision_window


def test_held_decisions_are_logic_levels_and_the_window_shrinks_with_the_compare_time():
    chip = ChipSpec()
    short, default = 50e-6, chip.t_compare_s
    w = decision_window(chip.comparator(), chip.supply("tt", 27), (short, default),
                        overdrives=(-0.1, -0.01, 0.01, 0.1), histories=(0.0, 2.0), workers=2)
    assert len(w.rows) == 2 * 4 * 2 * 2
    # every held decision is a rail, right or wrong: the pump never sees a partial level
    assert max(r["logic_error_v"] for r in w.rows) < 0.01
    # the chip's compare phase resolves 1 % from a threshold from any history; 50 us does not resolve 10 %
    assert w.window(default) < 0.01
    assert w.window(short) >= 0.1
    # a wrong decision is a late one: the comparator still held the previous step's decision
    for r in w.rows:
        if r["t_compare_s"] == short and not r["right"]:
            fired_before = r["z_prev"] * (1 if r["half"] == "up" else -1) > 1
            assert r["fired"] == fired_before, r
