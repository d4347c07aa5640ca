"""Property-based checks (hypothesis) on what users write: recipes, chip specs,
sweep plans and manifests. Whatever is generated, the program either accepts it or refuses it
cleanly (ConfigError naming the key; never another exception), writes nothing
outside its output folder, and puts nothing in a netlist but identifiers and
finite numbers."""

import copy
import json
import re
import tomllib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from codesign.chip import ChipSpec, chip_from_dict
from codesign.config import ConfigError
from codesign.manifest import plan_from_manifest
from codesign.mapping.mapper import build_netlists, write_map
from codesign.training.recipe import recipe_from_dict

GOLDEN = json.loads((Path(__file__).parent / "golden" / "maps" / "cmru" / "manifest.json").read_text())
RECIPE = GOLDEN["recipe"]
CHIP = GOLDEN["plan"]["chip"]
PROFILE = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# Values a hostile or careless user writes: wrong types, huge, tiny, non-finite, names
# with separators, SPICE keywords and line breaks.
NASTY = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-10**15, max_value=10**15),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([1e300, -1e300, 1e-300, 0, -1, 1e12]),
    st.text(max_size=12), st.sampled_from(["a\n", "x y", "../up", "/etc/passwd", ".control", "END", "shell rm",
                                           "v(x)*1e9", "tt\n.endc"]),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=4), st.integers(), max_size=2))


def _leaves(data, path=()):
    """Every (path, value) of a JSON tree."""
    if isinstance(data, dict):
        for k, v in data.items():
            yield from _leaves(v, path + (k,))
    elif isinstance(data, list) and data and not all(isinstance(v, (int, float)) for v in data):
        for i, v in enumerate(data):
            yield from _leaves(v, path + (i,))
    else:
        yield path, data


def _set(data, path, value):
    node = data
    for p in path[:-1]:
        node = node[p]
    node[path[-1]] = value


def _mutated(base, draw_path, value, drop):
    data = copy.deepcopy(base)
    if drop and isinstance(draw_path[-1], str):
        node = data
        for p in draw_path[:-1]:
            node = node[p]
        del node[draw_path[-1]]
    else:
        _set(data, draw_path, value)
    return data


def _named(err: ConfigError, path) -> bool:
    """The refusal names the key (its last component, or the list it sits in)."""
    names = [str(p) for p in path if isinstance(p, str)]
    return any(n in str(err) for n in names[-2:])


SAFE_LINE = re.compile(r"[A-Za-z0-9_.,=(){}+\-*/ <>]*")  # {..}: template parameters
NON_FINITE = re.compile(r"\b(nan|inf|infinity)\b", re.I)
FORBIDDEN = re.compile(r"\.(control|endc|include|lib|shell)\b|\bshell\b", re.I)


def assert_netlist_is_safe(text: str) -> None:
    for line in text.splitlines():
        if line.startswith("*"):  # a comment: ngspice reads nothing in it
            continue
        assert SAFE_LINE.fullmatch(line), line
        assert not NON_FINITE.search(line) and not FORBIDDEN.search(line), line


recipe_paths = st.sampled_from([p for p, _ in _leaves(RECIPE)])
chip_paths = st.sampled_from([p for p, _ in _leaves(CHIP)])
manifest_paths = st.sampled_from([p for p, _ in _leaves(GOLDEN["plan"]) if p[0] not in ("synapses", "units_summary",
                                                                                           "quantization")])


@PROFILE
@given(path=recipe_paths, value=NASTY, drop=st.booleans(), extra=st.booleans())
def test_malformed_recipes_are_refused_naming_the_key(path, value, drop, extra):
    data = _mutated(RECIPE, path, value, drop)
    if extra:
        data["trian"] = {"epochs": 1}
    try:
        recipe_from_dict(data)
    except ConfigError as err:
        assert extra and "trian" in str(err) or _named(err, path) or drop, str(err)
    else:
        assert not extra


@PROFILE
@given(path=chip_paths, value=NASTY, extra=st.booleans())
@example(path=("name",), value="END", extra=False)  # a name the netlist would refuse as a SPICE keyword
def test_malformed_chip_specs_are_refused_or_give_safe_netlists(path, value, extra):
    data = _mutated(CHIP, path, value, False)
    if extra:
        data["vdd"] = 1.2
    try:
        chip = chip_from_dict(data)
    except ConfigError as err:
        assert (extra and "vdd" in str(err)) or _named(err, path) or "chip:" in str(err), str(err)
        return
    assert not extra and isinstance(chip, ChipSpec)
    manifest = copy.deepcopy(GOLDEN)
    manifest["plan"]["chip"] = data
    try:
        plan = plan_from_manifest(manifest)
    except ConfigError:
        return  # e.g. the chip's hardware kind disagrees with the plan's eps or levels
    for text in build_netlists(plan).values():
        assert_netlist_is_safe(text)


@PROFILE
@given(path=manifest_paths, value=NASTY, drop=st.booleans())
def test_malformed_manifests_are_refused_or_stay_inside_their_folder(tmp_path_factory, path, value, drop):
    manifest = copy.deepcopy(GOLDEN)
    manifest["plan"] = _mutated(GOLDEN["plan"], path, value, drop)
    try:
        plan = plan_from_manifest(manifest)
    except ConfigError:
        return
    root = tmp_path_factory.mktemp("prop")
    out = root / "out"
    try:
        texts = build_netlists(plan)
        write_map(plan, out)
    except ValueError as err:  # a value the netlist checks refuse (named), never written as text
        assert "netlist" in str(err) or ":" in str(err)
        return
    for text in texts.values():
        assert_netlist_is_safe(text)
    assert {p.resolve() for p in root.rglob("*")} <= {out.resolve(), *(p.resolve() for p in out.rglob("*"))}


SMOKE = tomllib.loads((Path(__file__).resolve().parents[1] / "validation" / "smoke.toml").read_text())
plan_paths = st.sampled_from([p for p, _ in _leaves(SMOKE)])


@PROFILE
@given(path=plan_paths, value=NASTY, drop=st.booleans(), extra=st.booleans())
def test_malformed_sweep_plans_are_refused_naming_the_key(tmp_path_factory, path, value, drop, extra):
    from codesign.validation.sweep.plan import load_plan

    data = _mutated(SMOKE, path, value, drop)
    if extra:
        data["corner"] = "tt"
    folder = tmp_path_factory.mktemp("plan")
    plan_file = folder / "plan.json"  # JSON: every generated value has a JSON form, not all a TOML one
    try:
        plan_file.write_text(json.dumps(data))
    except ValueError:  # NaN and infinities have no strict JSON form: json.dumps writes them anyway
        return
    try:
        plan = load_plan(plan_file)
    except ConfigError as err:
        assert str(plan_file) in str(err)
        assert (extra and "corner" in str(err)) or _named(err, path) or drop or "points" in str(err), str(err)
    else:
        assert not extra and len(plan.points) <= 10_000
    assert sorted(p.name for p in folder.iterdir()) == ["plan.json"]  # nothing written by loading


def test_the_generators_reach_both_outcomes():
    """The properties above are not vacuous: some inputs pass, others are refused."""
    assert recipe_from_dict(copy.deepcopy(RECIPE))
    with pytest.raises(ConfigError, match="model.hidden"):
        recipe_from_dict(_mutated(RECIPE, ("model", "hidden"), "eight", False))
    bad = copy.deepcopy(GOLDEN)
    bad["plan"]["layers"][0]["units"][0]["name"] = "a\n.control"
    with pytest.raises(ConfigError, match="units\\[0\\].name"):
        plan_from_manifest(bad)


def test_a_recipe_cannot_name_a_noise_profile_outside_its_folder(tmp_path):
    from codesign.training.recipe import load_recipe

    outside = tmp_path / "elsewhere.toml"
    outside.write_text('preset = "ideal"\n')
    folder = tmp_path / "recipes"
    folder.mkdir()
    recipe = dict(RECIPE, noise={"profile": "../elsewhere.toml"})
    (folder / "r.json").write_text(json.dumps(recipe))
    with pytest.raises(ConfigError, match="noise.profile: '../elsewhere.toml' must be a path inside"):
        load_recipe(folder / "r.json")
    (folder / "r.json").write_text(json.dumps(dict(RECIPE, noise={"profile": "a\x00.toml"})))
    with pytest.raises(ConfigError, match=r"noise.profile: 'a\\x00.toml' must be a path inside"):
        load_recipe(folder / "r.json")
