"""Tests of the multi-synthesizer keyword set (kws_multi) and `codesign evaluate`.

They call the real synthesizers on a tiny set. festival, its voices and flite
are installed by scripts/setup.sh, so a missing one fails here with the
package to install rather than skipping silently."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile

from codesign.cli import main
from codesign.config import ConfigError
from codesign.training.recipe import recipe_from_dict
from codesign.training.tasks import SynthesizerNotFoundError, TaskParamError, make_task
from codesign.training.tasks.augment import (
    coloured_noise,
    mix_at_snr,
    narrowband,
    place,
    reverberate,
    room_impulse_response,
    warp_frequencies,
)
from codesign.training.tasks.cache import CACHE_ENV_VAR
from codesign.training.tasks.generated import wav_bytes
from codesign.training.tasks.kws_multi import DEFAULT_VOICES, AudioSettings, clip_recipes, render
from codesign.training.tasks.speech import CLIP_SAMPLES, SAMPLE_RATE, normalize_utterances
from codesign.training.tasks.synthesizers import SYNTHESIZERS, check_installed, parse_voice, synthesize
from codesign.training.trainer import train

# One voice of each synthesizer plus flite's kal, the same recorded speaker as festival's.
VOICES = ("festival:kal_diphone", "flite:kal", "flite:slt", "espeak-ng:en-us+f3")
TINY = dict(keywords=("yes", "no"), n_per_word=4, n_unknown=4, n_silence=3, voices=VOICES)
VOICE_SPLIT = dict(TINY, split="voice", val_speakers=("espeak-ng:f3",), test_speakers=("kal",))
SYNTH_SPLIT = dict(TINY, split="synthesizer", held_out="festival")


def require_synthesizers(voices=VOICES) -> None:
    """Fail (not skip) with the package to install when a synthesizer or voice is missing."""
    for spec in voices:
        try:
            check_installed(parse_voice(spec))
        except SynthesizerNotFoundError as err:
            pytest.fail(f"{err}. scripts/setup.sh installs the synthesizers these tests need.")


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """One cache for the module: the tiny set is generated once and shared."""
    with pytest.MonkeyPatch.context() as patch:
        root = tmp_path_factory.mktemp("kws-cache")
        patch.setenv(CACHE_ENV_VAR, str(root))
        yield root


@pytest.fixture(scope="module")
def voice_task(cache):
    require_synthesizers()
    return make_task("kws_multi", seed=0, **VOICE_SPLIT)


def split_folder(cache: Path, kind: str) -> Path:
    (folder,) = cache.glob(f"kws_multi/*/{kind}-*")
    return folder


def listed_clips(folder: Path) -> dict[str, set[str]]:
    """The relative paths of each split of a Speech Commands folder."""
    val = set((folder / "validation_list.txt").read_text().split())
    test = set((folder / "testing_list.txt").read_text().split())
    every = {f"{p.parent.name}/{p.name}" for p in folder.glob("*/*.wav")}
    return {"train": every - val - test, "val": val, "test": test}


def manifest(cache: Path) -> dict[str, dict]:
    (path,) = cache.glob("kws_multi/*/clips/clips.csv")
    with path.open() as f:
        return {row["path"]: row for row in csv.DictReader(f)}


# --- synthesizers and clips ----------------------------------------------------


def test_every_default_voice_speaks_audibly_at_16_khz():
    require_synthesizers(DEFAULT_VOICES)
    for spec in DEFAULT_VOICES:
        audio = synthesize("go", parse_voice(spec))
        assert audio.dtype == np.float32 and 0.2 * SAMPLE_RATE < len(audio) < 2 * SAMPLE_RATE, spec
        assert np.sqrt(np.mean(audio**2)) > 0.005, f"{spec} is silent"


def test_speakers_group_the_voices_of_one_recorded_person():
    assert parse_voice("festival:kal_diphone").speaker == parse_voice("flite:kal16").speaker == "kal"
    assert parse_voice("festival:cmu_us_slt_arctic_hts").speaker == parse_voice("flite:slt").speaker == "slt"
    assert parse_voice("espeak-ng:en-us+m1").speaker == parse_voice("espeak-ng:en+m1").speaker == "espeak-ng:m1"


def test_a_missing_festival_voice_names_its_package(tmp_path, monkeypatch):
    require_synthesizers(("festival:kal_diphone",))
    monkeypatch.setattr("codesign.training.tasks.synthesizers.FESTIVAL_VOICE_DIRS", tmp_path)  # no voices there
    with pytest.raises(SynthesizerNotFoundError, match="apt-get install festvox-kdlpc16k"):
        check_installed(parse_voice("festival:ked_diphone"))


def test_the_tiny_set_has_every_class_and_audible_clips_of_every_synthesizer(voice_task, cache):
    assert voice_task.class_names == ("yes", "no", "unknown", "_silence_")
    rows = manifest(cache)
    clips = split_folder(cache, "voice")
    assert {row["voice"].partition(":")[0] for row in rows.values() if row["voice"]} == set(SYNTHESIZERS)
    for rel, row in rows.items():
        audio, rate = soundfile.read(clips / rel, dtype="float32")
        assert rate == SAMPLE_RATE and audio.shape == (CLIP_SAMPLES,), rel
        assert np.abs(audio).max() > 0.002, f"{rel} ({row['voice'] or 'noise'}) is silent"
    unknown = {row["word"] for row in rows.values() if row["label"] == "unknown"}
    assert unknown and not unknown & {"yes", "no"}


def as_tuples(value):
    """JSON lists back to the tuples the settings hold."""
    return tuple(as_tuples(v) for v in value) if isinstance(value, list) else value


def test_clips_are_reproducible_from_their_seed_and_regenerated_when_lost(voice_task, cache):
    (settings_file,) = cache.glob("kws_multi/*/clips/settings.json")
    settings = AudioSettings(**{k: as_tuples(v) for k, v in json.loads(settings_file.read_text()).items()})
    recipe = next(c for c in clip_recipes(settings) if c.voice == "festival:kal_diphone")
    on_disk = settings_file.parent / recipe.rel_path
    assert wav_bytes(render(recipe, settings)) == wav_bytes(render(recipe, settings)) == on_disk.read_bytes()

    original = on_disk.read_bytes()
    on_disk.unlink()
    make_task("kws_multi", seed=0, **VOICE_SPLIT)
    assert on_disk.read_bytes() == original


# --- splits --------------------------------------------------------------------


def test_the_voice_split_keeps_speakers_apart(voice_task, cache):
    rows = manifest(cache)
    parts = listed_clips(split_folder(cache, "voice"))
    speakers = {part: {rows[rel]["speaker"] for rel in rels if rows[rel]["speaker"]} for part, rels in parts.items()}
    assert speakers == {"train": {"slt"}, "val": {"espeak-ng:f3"}, "test": {"kal"}}
    test_voices = {rows[rel]["voice"] for rel in parts["test"]}
    assert {"festival:kal_diphone", "flite:kal"} <= test_voices  # one speaker, two synthesizers: both held out
    assert len(voice_task.y_test) == len(parts["test"]) and len(voice_task.y_train) == len(parts["train"])


def test_the_synthesizer_split_tests_on_the_held_out_synthesizer_only(voice_task, cache):
    task = make_task("kws_multi", seed=0, **SYNTH_SPLIT)
    rows = manifest(cache)
    assert task.data_folder == split_folder(cache, "synthesizer") != voice_task.data_folder
    parts = listed_clips(task.data_folder)
    synthesizer = {part: {rows[rel]["voice"].partition(":")[0] for rel in rels if rows[rel]["voice"]}
                   for part, rels in parts.items()}
    assert synthesizer["test"] == {"festival"}
    assert "festival" not in synthesizer["train"] | synthesizer["val"]
    assert len(list(cache.glob("kws_multi/*/clips"))) == 1  # both splits share one set of clips
    assert task.class_names == voice_task.class_names


def test_the_split_must_leave_every_class_in_every_split(cache):
    require_synthesizers()
    with pytest.raises(TaskParamError, match="class 'yes' without val clips"):
        make_task("kws_multi", **dict(VOICE_SPLIT, n_per_word=3))  # voices in turn: no 4th voice, no f3


# --- augmentation and features -------------------------------------------------


def test_each_augmentation_changes_the_clip_and_keeps_its_length():
    require_synthesizers(("flite:slt",))
    word = synthesize("left", parse_voice("flite:slt"))
    rng = np.random.default_rng(0)
    for augmented in (warp_frequencies(word, 1.08), narrowband(word)):
        assert augmented.shape == word.shape and not np.allclose(augmented, word, atol=1e-3)
    clip = place(word, 800)
    assert clip.shape == (CLIP_SAMPLES,) and not np.array_equal(clip, place(word, -800))
    reverberant = reverberate(clip, room_impulse_response(0.4, rng))
    assert reverberant.shape == clip.shape and not np.allclose(reverberant, clip, atol=1e-3)
    for colour in ("white", "pink", "brown"):
        noisy = mix_at_snr(clip.copy(), coloured_noise(colour, CLIP_SAMPLES, rng), float(np.mean(word**2)), 10.0)
        assert noisy.shape == clip.shape
        measured = 10 * np.log10(np.mean(word**2) / np.mean((noisy - clip) ** 2))
        assert measured == pytest.approx(10.0, abs=0.01)


def test_per_utterance_normalization_gives_zero_mean_unit_variance_per_coefficient(voice_task):
    raw = np.random.default_rng(0).normal(5.0, 3.0, size=(4, 101, 13)) * np.arange(1, 14)
    normalized = normalize_utterances(raw)
    assert np.allclose(normalized.mean(axis=1), 0.0, atol=1e-9) and np.allclose(normalized.std(axis=1), 1.0)
    x = voice_task.x_train.numpy()  # utterance_norm is kws_multi's default
    assert np.allclose(x.mean(axis=1), 0.0, atol=1e-4) and np.allclose(x.std(axis=1), 1.0, atol=1e-3)


def test_feature_clip_bounds_the_standardized_features_and_nothing_else(voice_task):
    clipped = make_task("kws_multi", seed=0, **VOICE_SPLIT, feature_clip=1.5)  # the same clips, from the cache
    for split in ("x_train", "x_val", "x_test"):
        full, bounded = getattr(voice_task, split).numpy(), getattr(clipped, split).numpy()
        assert np.abs(full).max() > 1.5 and np.abs(bounded).max() <= 1.5
        np.testing.assert_array_equal(bounded, np.clip(full, -1.5, 1.5))
    assert clipped.features.clip == 1.5 and voice_task.features.clip is None


# --- parameters ----------------------------------------------------------------


@pytest.mark.parametrize(
    "params, fragment",
    [
        (dict(bogus=1), "'bogus'"),
        (dict(n_per_word="4"), "'n_per_word' must be an integer"),
        (dict(n_per_word=2), r"'n_per_word' must be in \[3, 10000\]"),
        (dict(vtlp=(0.5, 1.0)), r"'vtlp\[0\]' must be in \[0.8, 1.25\]"),
        (dict(reverb_prob=1.5), "'reverb_prob'"),
        (dict(noise=("blue",)), "'noise' must be one of"),
        (dict(split="speaker"), "'split' must be one of"),
        (dict(split="voice", held_out="festival"), "'held_out' applies to split = 'synthesizer' only"),
        (dict(split="synthesizer"), "'held_out' must be one of"),
        (dict(voices=("festival",)), "'voices'"),
        (dict(val_speakers=("nobody",)), "'val_speakers': no voice has speaker 'nobody'"),
        (dict(keywords=("yes", "no"), unknown_words=("no", "cat")), "'unknown_words' must not repeat keywords"),
        (dict(utterance_norm="yes"), "'utterance_norm' must be true or false"),
        (dict(feature_clip=0.1), r"'feature_clip' must be in \[0.5, 100"),
    ],
)
def test_bad_parameters_are_refused_naming_the_key(params, fragment, tmp_path, monkeypatch):
    require_synthesizers(DEFAULT_VOICES)
    monkeypatch.setenv(CACHE_ENV_VAR, str(tmp_path))
    with pytest.raises(TaskParamError, match=fragment):
        make_task("kws_multi", **params)
    assert not list(tmp_path.rglob("*.wav"))  # refused before a clip is rendered


def test_a_recipe_with_an_unknown_task_key_is_refused():
    with pytest.raises(ConfigError, match="task.params.n_words"):
        recipe_from_dict({"name": "x", "task": {"name": "kws_multi", "params": {"n_words": 3}}})


# --- codesign evaluate ---------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_run(voice_task, tmp_path_factory):
    recipe = recipe_from_dict({
        "name": "tiny_kws", "task": {"name": "kws_multi", "params": VOICE_SPLIT},
        "model": {"cell": "cmru", "hidden": 4}, "train": {"epochs": 1, "batch_size": 4},
    })
    run = tmp_path_factory.mktemp("run")
    train(recipe, run, progress=False)
    return run


def test_evaluate_prints_accuracy_and_the_confusion_matrix(tiny_run, cache, tmp_path, capsys):
    out = tmp_path / "result.json"
    assert main(["evaluate", str(tiny_run), "--data", str(split_folder(cache, "voice")), "--split", "test",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "accuracy" in printed and "confusion matrix" in printed
    result = json.loads(out.read_text())
    assert result["classes"] == ["yes", "no", "unknown", "_silence_"]
    confusion = np.array(result["confusion"])
    assert confusion.shape == (4, 4) and confusion.sum() == result["clips"] == len(listed_clips(
        split_folder(cache, "voice"))["test"])
    assert result["accuracy"] == pytest.approx(np.trace(confusion) / confusion.sum())
    # The run's own test split through evaluate's pipeline: the accuracy training reported.
    assert result["accuracy"] == pytest.approx(json.loads((tiny_run / "metrics.json").read_text())["test_accuracy"])


def test_evaluate_reads_a_users_folder_maps_other_words_to_unknown_and_resamples(tiny_run, cache, tmp_path, capsys):
    from scipy.signal import resample_poly

    audio, _ = soundfile.read(next((split_folder(cache, "voice") / "yes").glob("*.wav")))
    for word, rate, (up, down) in (("yes", 44_100, (441, 160)), ("bird", 8_000, (1, 2))):  # bird: no class of the run
        (tmp_path / "mine" / word).mkdir(parents=True)
        soundfile.write(tmp_path / "mine" / word / "take1.wav", resample_poly(audio, up, down), rate)
    assert main(["evaluate", str(tiny_run), "--data", str(tmp_path / "mine")]) == 0
    printed = capsys.readouterr().out
    assert "counted as unknown: bird" in printed and "(all clips: 2)" in printed


@pytest.mark.parametrize("problem", ["missing", "empty", "low_rate"])
def test_evaluate_refuses_bad_data_naming_what_is_wrong(tiny_run, tmp_path, capsys, problem):
    data = tmp_path / "data"
    if problem != "missing":
        (data / "yes").mkdir(parents=True)
    if problem == "low_rate":
        soundfile.write(data / "yes" / "a.wav", np.zeros(4000), 4000)
    assert main(["evaluate", str(tiny_run), "--data", str(data)]) == 2
    err = capsys.readouterr().err
    expected = {"missing": f"{data}: the folder does not exist", "empty": "no .wav clips found",
                "low_rate": "sample rate 4000 Hz"}[problem]
    assert expected in err


def test_evaluate_refuses_a_folder_that_is_not_a_run(tmp_path, capsys):
    data = tmp_path / "data" / "yes"
    data.mkdir(parents=True)
    soundfile.write(data / "a.wav", np.zeros(16_000), 16_000)
    assert main(["evaluate", str(tmp_path / "norun"), "--data", str(tmp_path / "data")]) == 2
    assert "not a training run folder" in capsys.readouterr().err


def test_setup_installs_the_synthesizers():
    setup = Path("scripts/setup.sh").read_text()
    for package in ("espeak-ng", "festival", "festvox-kallpc16k", "festvox-kdlpc16k", "festvox-us-slt-hts", "flite"):
        assert f"need+=({package})" in setup
    assert shutil.which("text2wave") and shutil.which("flite"), "run scripts/setup.sh (festival, flite)"
