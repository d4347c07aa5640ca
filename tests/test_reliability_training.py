"""Training runs under faults: a second writer, stale locks, damaged or missing
files, kills between writes, --restart, oversized settings; and the noise
profile's terms, each with an effect of its own."""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from codesign import fsio
from codesign.config import ConfigError
from codesign.fsio import LOCK_NAME, FolderLocked, folder_lock
from codesign.training import trainer as trainer_module
from codesign.training.models import ModelConfig, MRULayer
from codesign.training.noise import Chip, NoiseProfile
from codesign.training.recipe import recipe_from_dict
from codesign.training.tasks import TaskParamError
from codesign.training.trainer import RunDamaged, load_checkpoint, train

SMALL = {
    "name": "small",
    "task": {"name": "flipflop", "params": {"k": 2, "T": 30, "n_train": 64, "n_val": 32, "n_test": 32}},
    "model": {"cell": "cmru", "hidden": 4, "levels": 2},
    "train": {"epochs": 4, "batch_size": 16, "lr": 0.01, "checkpoint_every": 2},
}
REPO = Path(__file__).resolve().parents[1]


def _recipe(**train_changes):
    data = json.loads(json.dumps(SMALL))
    data["train"].update(train_changes)
    return recipe_from_dict(data)


def _cli(*args, cwd=None):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "codesign", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=300)


def _interrupt_at(epoch_index):
    def hook(epoch):
        if epoch == epoch_index:
            raise KeyboardInterrupt
    return hook


def _dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(done.stdout)  # the process has exited and been reaped


def _write_lock(folder: Path, pid: int, host: str | None = None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / LOCK_NAME).write_text(json.dumps({
        "pid": pid, "host": host or socket.gethostname(), "what": "codesign train",
        "command": "codesign train old.toml", "started": "2026-11-29 10:00:00 +0000", "token": "old"}))


def _same_weights(a: Path, b: Path) -> bool:
    x, y = load_checkpoint(a)["model"], load_checkpoint(b)["model"]
    return x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x)


def _log_rows(folder: Path) -> list[list[str]]:
    """log.csv without the wall-time column."""
    return [row.split(",")[:-1] for row in (folder / "log.csv").read_text().splitlines()]


@pytest.fixture(scope="module")
def straight(tmp_path_factory) -> Path:
    """The reference: SMALL trained without interruption."""
    folder = tmp_path_factory.mktemp("straight")
    train(_recipe(), folder, progress=False)
    return folder


# ---------- one writer per folder ----------

HOLDER = """
import sys
from codesign.fsio import folder_lock
with folder_lock(sys.argv[1], "codesign train"):
    print("held", flush=True)
    sys.stdin.read()
"""


def test_a_second_train_into_a_busy_folder_exits_2_naming_the_holder(tmp_path):
    folder = tmp_path / "run"
    recipe_file = tmp_path / "small.json"
    recipe_file.write_text(json.dumps(SMALL))
    folder.mkdir()
    (folder / "log.csv").write_text("the holder's\n")
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        assert holder.stdout.readline() == "held\n"
        result = _cli("train", recipe_file, "--out", folder, "--quiet", "--restart")
        assert result.returncode == 2, result.stderr
        message = result.stderr.strip()
        assert message.startswith(f"codesign train: error: {folder} is in use by pid {holder.pid}")
        assert f"(codesign train: '-c {folder}'), started 20" in message  # what, command line, start
        assert message.endswith(f"delete {folder / LOCK_NAME})")
        with pytest.raises(FolderLocked, match=f"pid {holder.pid}"):  # the library call too
            train(_recipe(), folder, progress=False)
        # Refused before touching anything, even with --restart.
        assert sorted(p.name for p in folder.iterdir()) == [LOCK_NAME, "log.csv"]
        assert (folder / "log.csv").read_text() == "the holder's\n"
    finally:
        holder.communicate("")
    assert not (folder / LOCK_NAME).exists()  # released by its holder


def test_a_stale_lock_of_a_dead_process_is_taken_over(tmp_path, capsys):
    dead = _dead_pid()
    _write_lock(tmp_path, dead)
    train(_recipe(epochs=1), tmp_path, progress=False)
    err = capsys.readouterr().err
    assert f"took over the lock of {tmp_path}" in err and f"pid {dead}" in err
    assert not (tmp_path / LOCK_NAME).exists() and (tmp_path / "metrics.json").exists()


def test_a_lock_of_another_host_or_a_live_process_is_not_taken_over(tmp_path):
    _write_lock(tmp_path, _dead_pid(), host="elsewhere")  # its pid means nothing here
    with pytest.raises(FolderLocked, match="on elsewhere"):
        train(_recipe(), tmp_path, progress=False)
    _write_lock(tmp_path, os.getpid())
    with pytest.raises(FolderLocked, match=f"pid {os.getpid()}"):
        train(_recipe(), tmp_path, progress=False)
    (tmp_path / LOCK_NAME).write_text("")  # a record cut short: refused, and says how to recover
    with pytest.raises(FolderLocked, match="unreadable.*delete"):
        train(_recipe(), tmp_path, progress=False)


RACER = """
import sys, time
from pathlib import Path
from codesign.fsio import FolderLocked, folder_lock
folder, go = Path(sys.argv[1]), Path(sys.argv[2])
print("ready", flush=True)
while not go.exists():
    time.sleep(0.001)
try:
    with folder_lock(folder, "race"):
        print("won", flush=True)
        time.sleep(2)
except FolderLocked:
    print("refused", flush=True)
"""


def test_racers_for_a_stale_lock_have_exactly_one_winner(tmp_path):
    folder, go = tmp_path / "run", tmp_path / "go"
    _write_lock(folder, _dead_pid())
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    racers = [subprocess.Popen([sys.executable, "-c", RACER, str(folder), str(go)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=env) for _ in range(4)]
    assert all(r.stdout.readline() == "ready\n" for r in racers)
    go.touch()
    outcomes = sorted(r.communicate(timeout=60)[0].strip() for r in racers)
    assert outcomes == ["refused", "refused", "refused", "won"]
    assert not (folder / LOCK_NAME).exists()


def test_a_late_taker_of_a_stale_lock_leaves_the_new_holder_alone(tmp_path):
    """The interleaving a race may produce: A reads the dead holder's record; B takes
    the lock over and holds it; then A acts on what it read."""
    _write_lock(tmp_path, _dead_pid())
    lock = tmp_path / LOCK_NAME
    seen_by_a = json.loads(lock.read_text())
    with folder_lock(tmp_path, "B"):
        held_by_b = lock.read_text()
        fsio._take_over(tmp_path, lock, seen_by_a)
        assert lock.read_text() == held_by_b
        with pytest.raises(FolderLocked, match=f"pid {os.getpid()}"):
            with folder_lock(tmp_path, "A"):
                pass


def test_the_lock_is_released_only_by_its_holder(tmp_path):
    with folder_lock(tmp_path, "test") as lock:
        _write_lock(tmp_path, 1)  # somebody replaced it (by hand): not ours to delete
    assert json.loads(lock.read_text())["token"] == "old"


# ---------- damaged and missing files ----------

@pytest.mark.parametrize("kept", [0.5, 0.0])
def test_a_truncated_checkpoint_falls_back_to_the_newest_readable_snapshot(tmp_path, straight, capsys, kept):
    recipe = _recipe()
    with pytest.raises(KeyboardInterrupt):
        train(recipe, tmp_path, progress=False, on_epoch_end=_interrupt_at(2))  # after epoch 3; snapshot at 2
    ckpt = tmp_path / "checkpoint.pt"
    ckpt.write_bytes(ckpt.read_bytes()[: int(ckpt.stat().st_size * kept)])
    train(recipe, tmp_path, progress=False)
    err = capsys.readouterr().err
    assert f"{ckpt} is unreadable" in err and f"resuming from {tmp_path / 'epoch_0002.pt'} (epoch 2)" in err
    assert _same_weights(ckpt, straight / "checkpoint.pt")  # replayed exactly
    assert _same_weights(tmp_path / "best.pt", straight / "best.pt")
    assert _log_rows(tmp_path) == _log_rows(straight)


def _flip_a_weight(path: Path) -> None:
    """Change one bit of a stored weight: the file still loads, with another value."""
    raw = torch.load(path, weights_only=True)["model"]["readout.weight"].numpy().tobytes()
    data = bytearray(path.read_bytes())
    at = bytes(data).index(raw) + 5
    data[at] ^= 0x01
    path.write_bytes(bytes(data))
    assert not torch.equal(torch.load(path, weights_only=True)["model"]["readout.weight"],
                           torch.frombuffer(bytearray(raw), dtype=torch.float32).reshape(-1, 4))


def test_a_changed_weight_in_a_checkpoint_is_caught_not_resumed_from(tmp_path, straight, capsys):
    recipe = _recipe()
    with pytest.raises(KeyboardInterrupt):
        train(recipe, tmp_path, progress=False, on_epoch_end=_interrupt_at(2))
    _flip_a_weight(tmp_path / "checkpoint.pt")
    train(recipe, tmp_path, progress=False)
    err = capsys.readouterr().err
    assert "checkpoint.pt: its content does not match the checksum" in err and "epoch_0002.pt (epoch 2)" in err
    assert _same_weights(tmp_path / "checkpoint.pt", straight / "checkpoint.pt")
    _flip_a_weight(tmp_path / "best.pt")  # the mapper loads best.pt: it must not map other weights
    with pytest.raises(RunDamaged, match="best.pt: its content does not match"):
        trainer_module.load_run(tmp_path)


def test_no_readable_checkpoint_is_refused_with_a_way_out(tmp_path):
    recipe = _recipe()
    with pytest.raises(KeyboardInterrupt):
        train(recipe, tmp_path, progress=False, on_epoch_end=_interrupt_at(2))
    for name in ("checkpoint.pt", "epoch_0002.pt"):
        (tmp_path / name).write_bytes(b"PK\x03\x04 cut")
    with pytest.raises(RunDamaged, match=r"no readable checkpoint.*epoch_0002.pt is unreadable.*--restart"):
        train(recipe, tmp_path, progress=False)
    train(recipe, tmp_path, restart=True, progress=False)  # the way out works
    assert load_checkpoint(tmp_path / "checkpoint.pt")["state"]["epoch"] == 4


def test_a_kill_between_the_checkpoint_and_the_log_loses_no_row(tmp_path, straight, monkeypatch):
    real = trainer_module._write_run_files
    calls = []

    def killed_in_epoch_2(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # checkpoint.pt of epoch 2 is on disk; log.csv still has 1 row
            raise KeyboardInterrupt
        real(*args, **kwargs)

    monkeypatch.setattr(trainer_module, "_write_run_files", killed_in_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        train(_recipe(), tmp_path, progress=False)
    monkeypatch.setattr(trainer_module, "_write_run_files", real)
    assert load_checkpoint(tmp_path / "checkpoint.pt")["state"]["epoch"] == 2
    assert len(_log_rows(tmp_path)) == 1 + 1
    assert json.loads((tmp_path / "checkpoint.json").read_text())["epoch"] == 1
    train(_recipe(), tmp_path, progress=False)
    assert _log_rows(tmp_path) == _log_rows(straight)
    assert _same_weights(tmp_path / "checkpoint.pt", straight / "checkpoint.pt")


def _metrics(folder: Path) -> dict:
    metrics = json.loads((folder / "metrics.json").read_text())
    metrics.pop("train_seconds")
    return metrics


def test_a_kill_before_any_write_resumes_to_the_same_result(tmp_path, monkeypatch):
    """Kill the run before each of its file writes in turn (leaving half of that write
    in a temporary file, as a kill inside an atomic write does), resume, and compare
    with the uninterrupted run: weights, best weights, log and metrics."""
    recipe = _recipe(epochs=2, checkpoint_every=1)
    reference = tmp_path / "reference"
    train(recipe, reference, progress=False)
    writes = {"count": 0, "kill_at": None}

    def counted(real):
        def write(path, data, **kwargs):
            writes["count"] += 1
            if writes["count"] == writes["kill_at"]:
                raw = data if isinstance(data, bytes) else str(data).encode()
                Path(path).with_name(f".{Path(path).name}.killed.tmp").write_bytes(raw[: len(raw) // 2])
                raise KeyboardInterrupt
            real(path, data, **kwargs)
        return write

    for name in ("atomic_write_bytes", "atomic_write_text", "atomic_write_json"):
        monkeypatch.setattr(trainer_module, name, counted(getattr(trainer_module, name)))
    train(recipe, tmp_path / "counted", progress=False)
    total = writes["count"]
    assert total >= 11  # per epoch: checkpoint, snapshot, (best), log, json, plot; then metrics
    for kill_at in range(1, total + 1):
        writes.update(count=0, kill_at=kill_at)
        folder = tmp_path / f"killed{kill_at}"
        with pytest.raises(KeyboardInterrupt):
            train(recipe, folder, progress=False)
        writes["kill_at"] = None
        train(recipe, folder, progress=False)
        assert _same_weights(folder / "checkpoint.pt", reference / "checkpoint.pt"), kill_at
        assert _same_weights(folder / "best.pt", reference / "best.pt"), kill_at
        assert _log_rows(folder) == _log_rows(reference), kill_at
        assert _metrics(folder) == _metrics(reference), kill_at


def test_rerunning_a_finished_run_rebuilds_lost_files_from_its_checkpoint(tmp_path, straight):
    train(_recipe(), tmp_path, progress=False)
    for name in ("log.csv", "checkpoint.json", "best.pt", "metrics.json", "curves.png"):
        (tmp_path / name).unlink()
    (tmp_path / ".checkpoint.pt.x1y2.tmp").write_bytes(b"half a write")  # a kill inside an atomic write
    train(_recipe(), tmp_path, progress=False)
    assert _log_rows(tmp_path) == _log_rows(straight)
    assert _same_weights(tmp_path / "best.pt", straight / "best.pt")
    info = json.loads((tmp_path / "checkpoint.json").read_text())
    assert info["epoch"] == 4
    assert info["best_epoch"] == json.loads((straight / "checkpoint.json").read_text())["best_epoch"]
    assert (tmp_path / "metrics.json").exists() and (tmp_path / "curves.png").exists()


def test_restart_removes_only_what_a_run_writes(tmp_path):
    train(_recipe(epochs=2), tmp_path, progress=False)
    foreign = {"pretrained.pt": b"weights of another project", "epoch_12.pt": b"not ours: 2 digits",
               "notes.txt": b"keep me", "log.csv.bak": b"a copy"}
    for name, data in foreign.items():
        (tmp_path / name).write_bytes(data)
    (tmp_path / ".log.csv.abc123.tmp").write_text("interrupted write")
    train(_recipe(epochs=1), tmp_path, restart=True, progress=False)
    assert all((tmp_path / name).read_bytes() == data for name, data in foreign.items())
    assert not (tmp_path / "epoch_0002.pt").exists() and not (tmp_path / ".log.csv.abc123.tmp").exists()
    assert load_checkpoint(tmp_path / "checkpoint.pt")["state"]["epoch"] == 1
    assert not (tmp_path / LOCK_NAME).exists()


# ---------- limits ----------

def test_an_absurd_learning_rate_is_refused_with_the_limit():
    with pytest.raises(ConfigError, match=r"train.lr: must be in .0, 1.0\], got 1e\+300"):
        _recipe(lr=1e300)


def test_a_huge_task_is_refused_before_allocating(tmp_path):
    data = json.loads(json.dumps(SMALL))
    data["task"]["params"]["n_train"] = 10**12
    with pytest.raises(TaskParamError, match=r"'n_train' must be in \[1, 1000000\], got 1000000000000"):
        train(recipe_from_dict(data), tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()  # nothing left behind
    recipe_file = tmp_path / "huge.json"
    recipe_file.write_text(json.dumps(data))
    result = _cli("train", recipe_file, "--out", tmp_path / "run", "--quiet")
    assert result.returncode == 2
    assert "task.params: parameter 'n_train' must be in [1, 1000000], got 1000000000000" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "run").exists()


# ---------- the noise profile: each term has an effect of its own ----------
# One MRU layer with W = I and b = 0, so z = x; alpha = 0.25, beta = 0.5, 4 levels.

ALPHA, BETA, UNITS = 0.25, 0.5, 256


def _layer() -> MRULayer:
    layer = MRULayer(UNITS, ModelConfig(cell="cmru", hidden=UNITS, levels=4), "layer0").double()
    with torch.no_grad():
        layer.input.weight.copy_(torch.eye(UNITS))
        layer.input.bias.zero_()
        layer.log_alpha.fill_(math.log(ALPHA))
        layer.log_beta.fill_(math.log(BETA))
    return layer


def _run(profile: NoiseProfile, x: torch.Tensor, seed: int = 0):
    with torch.no_grad():
        h, z_rel = _layer().run(x, Chip(profile, torch.Generator().manual_seed(seed)))
    return h[0], z_rel[0]


def _pulse(value: float, steps: int = 40) -> torch.Tensor:
    """z = value on every unit at step 0, then 0."""
    x = torch.zeros(1, steps, UNITS, dtype=torch.float64)
    x[0, 0] = value
    return x


def test_without_noise_a_pulse_stores_exactly_alpha():
    h, z_rel = _run(NoiseProfile(), _pulse(0.55))
    assert torch.equal(h, torch.full_like(h, ALPHA))
    torch.testing.assert_close(z_rel[0], torch.full((UNITS,), 0.55 / BETA, dtype=torch.float64))


def test_leak_decays_the_state_geometrically_and_does_nothing_else():
    leak = 0.01
    h, z_rel = _run(NoiseProfile(h_leak_per_step=leak), _pulse(0.55))
    want = ALPHA * (1 - leak) ** torch.arange(h.shape[0], dtype=torch.float64)
    torch.testing.assert_close(h, want[:, None].expand_as(h), rtol=1e-12, atol=0)
    torch.testing.assert_close(z_rel[0], torch.full((UNITS,), 0.55 / BETA, dtype=torch.float64))


def test_beta_mismatch_moves_each_threshold_and_nothing_else():
    h, z_rel = _run(NoiseProfile(beta_mismatch_rel=0.2), _pulse(0.55))
    beta_chip = 0.55 / z_rel[0]  # z_rel = z / this chip's beta
    assert 0.15 < (beta_chip / BETA).std() < 0.25  # per unit, ~20 %
    fired = beta_chip < 0.55
    assert 0.5 < fired.double().mean() < 0.9  # 0.55 is 10 % above beta: units whose beta rose past it stay
    torch.testing.assert_close(h[0], torch.where(fired, ALPHA, 0.0).double())  # amplitude untouched
    assert torch.equal(h, h[:1].expand_as(h))  # held: no leak, no noise


def test_alpha_mismatch_scales_each_increment_and_nothing_else():
    h, z_rel = _run(NoiseProfile(alpha_mismatch_rel=0.2), _pulse(0.55))
    torch.testing.assert_close(z_rel[0], torch.full((UNITS,), 0.55 / BETA, dtype=torch.float64))  # thresholds
    assert (h[0] > 0).all()  # every unit fired ...
    assert 0.15 < (h[0] / ALPHA).std() < 0.25  # ... with its own increment
    assert torch.equal(h, h[:1].expand_as(h))


def test_weight_mismatch_scales_each_weight_and_nothing_else():
    x = _pulse(2.0)
    x[0, 1] = 0.3  # a second, weak input: the same static mismatch must apply
    _, z_rel = _run(NoiseProfile(weight_mismatch_rel=0.2), x)
    gain = z_rel[0] * BETA / 2.0  # z = (W * mismatch) x with W = I
    assert 0.15 < gain.std() < 0.25
    torch.testing.assert_close(z_rel[1] * BETA / 0.3, gain)  # static per chip
    h, _ = _run(NoiseProfile(weight_mismatch_rel=0.2), _pulse(2.0))
    assert torch.equal(h, torch.full_like(h, ALPHA))  # a strong input still stores exactly alpha


def test_z_noise_fires_comparators_at_random_in_whole_alpha_steps():
    steps = 200
    x = torch.zeros(1, steps, UNITS, dtype=torch.float64)
    h, z_rel = _run(NoiseProfile(z_noise_std=0.3), x)
    assert torch.equal(z_rel, torch.zeros_like(z_rel))  # z / beta is reported before dynamic noise
    assert (h != 0).any()  # |noise| > beta now and then
    levels = h / ALPHA
    assert torch.equal(levels, levels.round())  # the state stays on the alpha lattice
    again, _ = _run(NoiseProfile(z_noise_std=0.3), x, seed=1)
    assert not torch.equal(h, again)


def test_h_noise_moves_the_state_off_the_lattice_without_firing():
    steps = 200
    x = torch.zeros(1, steps, UNITS, dtype=torch.float64)
    h, _ = _run(NoiseProfile(h_noise_std=0.01), x)
    levels = h / ALPHA
    assert not torch.equal(levels, levels.round())
    steps_taken = torch.diff(h, dim=0)
    assert 0.009 < steps_taken.std() < 0.011 and steps_taken.mean().abs() < 0.001  # a random walk, not a decay
