"""What `m3.analysis.track` versions: finished runs only, weights always, checkpoints and replay data by switch.
(`dvc add` / `dvc push` / `dvc pull` of them: tests/analysis/test_dvc_pipeline.py.)"""

import pytest

from m3.analysis.dvccli import run_dvc
from m3.analysis.params import AnalysisError
from m3.analysis.track import finished_runs, stage_files


def make_run(root, game, seed, done=True, weights=True):
    run = root / "results/runs/atari" / game / f"seed{seed}"
    (run / "checkpoints/dataset").mkdir(parents=True)
    (run / "checkpoints/last.pt").write_bytes(b"last" + bytes([seed]))
    (run / "checkpoints/dataset/0.pt").write_bytes(b"episode")
    if weights:
        (run / "weights.pt").write_bytes(b"weights" + bytes([seed]))
    if done:
        (run / "done").touch()
    return run


def test_finished_runs_are_copied_and_switches_add_checkpoints_and_data(tmp_path):
    make_run(tmp_path, "Pong", 0)
    make_run(tmp_path, "Pong", 1, done=False)
    make_run(tmp_path, "Alien", 2)
    runs, unfinished = finished_runs(tmp_path / "results/runs/atari")
    assert [(r.game, r.seed) for r in runs] == [("Alien", 2), ("Pong", 0)]
    assert [p.name for p in unfinished] == ["seed1"]

    targets = stage_files("atari", runs, tmp_path, checkpoints=False, dataset=False)
    assert [str(t) for t in targets] == ["results/weights/atari"]
    assert (tmp_path / "results/weights/atari/Pong/seed0.pt").read_bytes() == b"weights\x00"
    assert not (tmp_path / "results/weights/atari/Pong/seed1.pt").exists()
    assert not (tmp_path / "results/checkpoints").exists()

    targets = stage_files("atari", runs, tmp_path, checkpoints=True, dataset=True)
    assert [str(t) for t in targets] == ["results/weights/atari", "results/checkpoints/atari", "results/datasets/atari"]
    assert (tmp_path / "results/checkpoints/atari/Alien/seed2/last.pt").read_bytes() == b"last\x02"
    assert not (tmp_path / "results/checkpoints/atari/Alien/seed2/dataset").exists()
    assert (tmp_path / "results/datasets/atari/Alien/seed2/0.pt").read_bytes() == b"episode"


def test_bad_run_folders_give_one_clear_error(tmp_path):
    with pytest.raises(AnalysisError, match="runs folder .* does not exist"):
        finished_runs(tmp_path / "results/runs/atari")
    make_run(tmp_path, "Pong", 0, done=False)
    with pytest.raises(AnalysisError, match="no finished runs"):
        finished_runs(tmp_path / "results/runs/atari")
    run = make_run(tmp_path, "Alien", 0, weights=False)
    with pytest.raises(AnalysisError, match=f"{run} is finished .* but has no weights.pt"):
        finished_runs(tmp_path / "results/runs/atari")


def test_dvc_outside_a_dvc_repository_is_named(tmp_path):
    with pytest.raises(AnalysisError, match="is not a DVC repository"):
        run_dvc(["status"], tmp_path)
