"""Bad input to `m3.train` stops before any work (design §7.3): a non-zero exit, one line naming the value, and
the run folder unchanged (or never created). Most cases call the entry point's main() in-process; a few run the
real `python -m m3.train` to show the same through the command line."""

import errno
import hashlib
import multiprocessing
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from m3.checkpoint import RunDir
from m3.config import load_config
from m3.train import main, prepare_run
from m3.trainer import Trainer

SMOKE = ["benchmark=cartpole", "scale=smoke", "seed=0"]
TINY = ["epochs=1", "evaluation.every=1"]  # one epoch, checkpointed


def snapshot(root: Path) -> dict | None:
    """Every path under `root` (the lock file aside) with its content hash and mode; None when absent."""
    if not root.exists():
        return None
    files = {}
    for p in sorted(root.rglob("*")):
        if p.name != ".lock":
            digest = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            files[str(p.relative_to(root))] = (digest, p.stat().st_mode)
    return files if root.is_dir() else {"": hashlib.sha256(root.read_bytes()).hexdigest()}


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A one-epoch cartpole run with its checkpoint and run files, not finished."""
    root = tmp_path_factory.mktemp("trained") / "run"
    cfg = load_config([f"run_dir={root}", *SMOKE, *TINY])
    run = RunDir(root)
    Trainer(cfg, run).run_epochs()
    prepare_run(cfg, run)
    return root


def config_only(tmp: Path, *overrides: str, done: bool = False) -> Path:
    """A run folder holding the resolved config of SMOKE + overrides (and `done` when asked)."""
    root = tmp / "run"
    run = RunDir(root)
    prepare_run(load_config([f"run_dir={root}", *SMOKE, *overrides]), run)
    if done:
        run.mark_done("final return 1.0\n")
    return root


def copy_of(trained: Path, tmp: Path) -> Path:
    root = tmp / "run"
    shutil.copytree(trained, root)
    return root


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def file_in_the_way(tmp: Path) -> Path:
    (tmp / "run").write_text("not a folder\n")
    return tmp / "run"


def foreign_checkpoint(tmp: Path, trained: Path) -> Path:
    """A folder without config whose checkpoint was trained with other model sizes."""
    root = tmp / "run"
    shutil.copytree(trained / "checkpoints", root / "checkpoints")
    return root


def new(tmp: Path, _trained: Path) -> Path:
    return tmp / "run"


# (id, setup(tmp, trained) -> run folder, overrides beyond SMOKE, text the error line must contain)
CASES = [
    ("unknown-benchmark", new, ["benchmark=pong"], "pong"),
    ("unknown-scale", new, ["scale=huge"], "scale/huge"),
    ("unknown-game", new, ["env.game=Pong-v0"], "Pong-v0"),
    ("unknown-key", new, ["no_such_key=1"], "no_such_key"),
    ("unknown-plus-key", new, ["+training.world_model.batchsize=8"], "training.world_model.batchsize"),
    ("misspelt-key", new, ["training.world_model.batchsize=8"], "batchsize"),
    ("override-without-value", new, ["epochs"], "epochs"),
    ("not-an-integer", new, ["seed=abc"], "abc"),
    ("not-a-bool", new, ["tokenizer.perceptual_loss=maybe"], "maybe"),
    ("not-a-list", new, ["world_model.retnet.num_layers=[1]"], "num_layers"),
    ("negative-seed", new, ["seed=-1"], "seed=-1"),
    ("huge-seed", new, ["seed=4294967296"], "seed=4294967296"),
    ("zero-epochs", new, ["epochs=0"], "epochs=0 is not allowed; it must lie in [1, inf)"),
    ("negative-epochs", new, ["epochs=-3"], "epochs=-3"),
    ("zero-evaluation-every", new, ["evaluation.every=0"], "evaluation.every=0"),
    ("zero-test-envs", new, ["collection.test.num_envs=0"], "collection.test.num_envs=0"),
    ("zero-steps", new, ["collection.train.num_steps=0"], "collection.train.num_steps=0"),
    ("zero-ram", new, ["replay.max_ram_gb=0"], "replay.max_ram_gb=0.0 is not allowed; it must lie in (0, inf)"),
    ("zero-learning-rate", new, ["training.actor_critic.learning_rate=0"], "training.actor_critic.learning_rate=0"),
    ("zero-batch", new, ["training.tokenizer.batch_size=0"], "training.tokenizer.batch_size=0"),
    ("gamma-above-one", new, ["imagination.gamma=1.5"], "imagination.gamma=1.5 is not allowed; it must lie in [0, 1]"),
    ("epsilon-above-one", new, ["collection.train.epsilon=2"], "collection.train.epsilon=2.0"),
    ("dropout-one", new, ["world_model.retnet.dropout=1"], "world_model.retnet.dropout=1.0"),
    ("batch-not-divisible", new, ["training.world_model.batch_size=6"], "batch_size=6"),
    ("unknown-device", new, ["device=tpu"], "tpu"),
    ("unknown-wandb-mode", new, ["wandb.mode=sometimes"], "sometimes"),
    ("run-dir-is-a-file", lambda tmp, _: file_in_the_way(tmp), [], "is not a folder"),
    ("run-dir-under-a-file", lambda tmp, _: file_in_the_way(tmp) / "sub", [], "is not a folder"),
    ("changed-config", lambda tmp, _: config_only(tmp), ["training.world_model.learning_rate=0.5"],
     "training.world_model.learning_rate: 0.0002 in the run, 0.5 now"),
    ("finished-run-other-config", lambda tmp, _: config_only(tmp, done=True), ["collection.train.num_steps=60"],
     "collection.train.num_steps: 50 in the run, 60 now"),
    ("finished-run-other-seed", lambda tmp, _: config_only(tmp, done=True), ["seed=1"], "seed: 0 in the run, 1 now"),
    ("damaged-config-file", lambda tmp, t: _damage(copy_of(t, tmp), "config/config.yaml", b"{: ["), TINY,
     "config.yaml"),
    ("truncated-trainer-state", lambda tmp, t: _damage(copy_of(t, tmp), "checkpoints/set-0/trainer.pt"), TINY,
     "trainer.pt"),
    ("foreign-checkpoint", foreign_checkpoint, [*TINY, "world_model.retnet.embed_dim=16"],
     "does not fit this config's agent"),
]
if not torch.cuda.is_available():
    CASES.append(("cuda-without-gpu", new, ["device=cuda"], "device=cuda"))


def _damage(root: Path, name: str, content: bytes | None = None) -> Path:
    path = root / name
    truncate(path) if content is None else path.write_bytes(content)
    return root


@pytest.mark.parametrize("setup, overrides, needle", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_stops_with_one_line_and_writes_nothing(setup, overrides, needle, tmp_path, trained, capsys):
    root = setup(tmp_path, trained)
    before = snapshot(root)
    assert main([f"run_dir={root}", *SMOKE, *overrides]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("m3.train: error:")]
    assert len(errors) == 1 and needle in errors[0], errors
    assert snapshot(root) == before


def test_at_least_25_kinds_of_bad_input():
    assert len(CASES) >= 25


def cli(root: Path, *overrides: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "m3.train", f"run_dir={root}", *SMOKE, *overrides],
                          capture_output=True, text=True, timeout=120)


def test_the_command_line_exits_2_with_one_line_and_creates_no_folder(tmp_path):
    result = cli(tmp_path / "a" / "run", "epochs=0")
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr.strip().splitlines() == [
        "m3.train: error: epochs=0 is not allowed; it must lie in [1, inf)"]
    assert not (tmp_path / "a").exists()


def test_the_command_line_names_each_changed_key_and_leaves_the_run_alone(tmp_path):
    root = config_only(tmp_path)
    before = snapshot(root)
    result = cli(root, "seed=2", "training.world_model.learning_rate=0.5")
    assert result.returncode == 2
    line = result.stderr.strip().splitlines()[-1]
    assert "seed: 0 in the run, 2 now" in line and "learning_rate: 0.0002 in the run, 0.5 now" in line
    assert "another run_dir" in line and snapshot(root) == before


def test_a_failed_start_in_an_existing_folder_keeps_it_as_it_was_and_the_right_command_resumes(
        tmp_path, trained, capsys):
    root = foreign_checkpoint(tmp_path, trained)
    before = snapshot(root)
    assert main([f"run_dir={root}", *SMOKE, *TINY, "world_model.retnet.embed_dim=16"]) == 2
    assert snapshot(root) == before and not (root / "media").exists() and not (root / "config").exists()
    assert main([f"run_dir={root}", *SMOKE, *TINY]) == 0  # the checkpoint's own config: resumes and finishes
    assert RunDir(root).is_done and "resuming at epoch 2" in capsys.readouterr().out


def test_a_moved_run_folder_resumes(tmp_path, trained, capsys):
    root = tmp_path / "moved"
    shutil.copytree(trained, root)
    assert main([f"run_dir={root}", *SMOKE, *TINY]) == 0
    assert "resuming at epoch 2" in capsys.readouterr().out


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write to read-only folders")
def test_a_read_only_run_folder_is_named(tmp_path, capsys):
    root = tmp_path / "run"
    root.mkdir()
    root.chmod(0o500)
    try:
        assert main([f"run_dir={root}", *SMOKE]) == 2
    finally:
        root.chmod(0o700)
    assert "Permission denied" in capsys.readouterr().err and list(root.iterdir()) == []


def torn_metrics(tmp: Path, trained: Path) -> Path:
    root = copy_of(trained, tmp)
    with (root / "metrics.jsonl").open("a") as f:
        f.write('{"epoch": 2, "durat')  # a write cut short
    return root


# m3.evaluate: (id, setup(tmp, trained) -> run folder, extra arguments(tmp), text the error line must contain)
EVALUATE_CASES = [
    ("out-under-a-file", lambda tmp, t: copy_of(t, tmp), lambda tmp: [f"out={file_in_the_way(tmp)}/scores.json"],
     "is not a folder; nothing was played"),
    ("out-in-a-missing-folder-under-a-file", lambda tmp, t: copy_of(t, tmp),
     lambda tmp: [f"out={file_in_the_way(tmp)}/a/b/scores.json"], "is not a folder"),
    ("torn-metrics-line", torn_metrics, lambda tmp: [], "metrics.jsonl cannot be read"),
]


@pytest.mark.parametrize("setup, extra, needle", [c[1:] for c in EVALUATE_CASES], ids=[c[0] for c in EVALUATE_CASES])
def test_evaluate_checks_its_output_and_the_metrics_before_playing(setup, extra, needle, tmp_path, trained, capsys):
    from m3.evaluate import main as evaluate

    (tmp_path / "runs").mkdir()
    root = setup(tmp_path / "runs", trained)
    before = snapshot(root)
    assert evaluate([f"run_dir={root}", "episodes=1", "envs=1", *extra(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("m3.evaluate: error: ") and err.count("\n") == 1 and needle in err, err
    assert multiprocessing.active_children() == []  # no test env was started
    assert snapshot(root) == before


def test_io_errors_name_the_path_or_else_the_run_folder():
    from m3.train import error_line

    assert error_line(OSError(errno.ENOSPC, "No space left on device", "/r/last.pt")) == \
        "/r/last.pt: No space left on device"
    assert error_line(OSError(errno.ENOSPC, "No space left on device"), Path("/r")) == \
        "No space left on device while writing in /r"


@pytest.fixture
def full_disk(tmp_path):
    """A 64 KiB tmpfs filled to the last byte (needs the right to mount; skipped elsewhere)."""
    mount = tmp_path / "full"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        with (mount / "filler").open("wb", buffering=0) as f, pytest.raises(OSError, match="No space left"):
            while True:
                f.write(b"\0" * 4096)
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_a_full_disk_stops_train_and_evaluate_before_any_work(full_disk, trained, capsys):
    from m3.evaluate import main as evaluate

    before = snapshot(trained)
    assert evaluate([f"run_dir={trained}", "episodes=1", "envs=1", f"out={full_disk}/scores.json"]) == 2
    assert main([f"run_dir={full_disk}/run", *SMOKE]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("m3.evaluate: error: out=") and err[0].endswith(
        f"cannot be written: {full_disk}: No space left on device; nothing was played, the run is untouched")
    assert err[1] == f"m3.train: error: run_dir={full_disk}/run cannot hold a run: {full_disk}: No space left on device"
    assert multiprocessing.active_children() == [] and snapshot(trained) == before
    assert sorted(p.name for p in full_disk.iterdir()) == ["filler"]
