"""The unit stimulus sets exercise what their names say (pure NumPy, no simulation)."""

import numpy as np
import pytest

from codesign.validation.stimulus import HOLD_STEPS, SETS, stimulus


def _set(name, margin=0.02, levels=2, steps=400):
    return stimulus(name, 3, steps, 2, levels, margin, 3.5, seed=1)


def test_random_steps_keep_the_margin_and_fire_both_ways():
    z = _set("random", margin=0.05)
    assert np.all(np.abs(np.abs(z) - 1) >= 0.05 - 1e-12) and np.abs(z).max() <= 3.5
    assert (z > 1).mean() > 0.25 and (z < -1).mean() > 0.25 and (np.abs(z) < 1).mean() > 0.25


def test_saturation_runs_past_both_extremes():
    z = _set("saturation", levels=3)[0, :, 0]
    runs = np.diff(np.flatnonzero(np.diff(np.sign(z)) != 0))
    assert np.all(np.abs(z) <= 2) and (z > 1).any() and (z < -1).any()
    assert runs.max() >= 2 * 3 + 2  # a run is long enough to cross every level and clip


def test_holds_follow_every_change_with_a_long_idle_stretch():
    z = _set("holds", steps=1000)[0, :, 0]
    idle = np.diff(np.flatnonzero(z != 0))
    assert np.all(idle[idle > 1] == HOLD_STEPS + 1)


@pytest.mark.parametrize("margin", [0.005, 0.1])
def test_threshold_steps_sit_at_the_margin_from_each_extreme(margin):
    z = _set("threshold", margin=margin, levels=2)[0, :, 0]
    # to -L, one step that must hold, one that must fire; the same from +L
    np.testing.assert_allclose(z[3:5], [1 - margin, 1 + margin])
    np.testing.assert_allclose(z[11:13], [-(1 - margin), -(1 + margin)])
    np.testing.assert_allclose(np.abs(np.abs(z[14:]) - 1), margin)


def test_sets_are_reproducible_and_differ_by_seed_and_unit():
    a, b = stimulus("random", 2, 50, 2, 2, 0.02, 3.5, seed=4), stimulus("random", 2, 50, 2, 2, 0.02, 3.5, seed=4)
    assert np.array_equal(a, b) and not np.array_equal(a[..., 0], a[..., 1])
    assert not np.array_equal(a, stimulus("random", 2, 50, 2, 2, 0.02, 3.5, seed=5))


def test_bad_names_and_margins_are_refused():
    with pytest.raises(ValueError, match="stimulus set"):
        stimulus("ramp", 1, 10, 1, 2, 0.02, 3.5, 0)
    for m in (0, 1, 2.6):
        with pytest.raises(ValueError, match="margin"):
            stimulus(SETS[0], 1, 10, 1, 2, m, 3.5, 0)
