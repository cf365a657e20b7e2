"""benchmarks/replay.py (the selectors' and collate's ms per batch) runs on a small replay and refuses bad sizes.
(Named apart from tests/data/test_replay.py: test modules are imported by their file name.)"""

import json
import sys

import pytest

from benchmarks import replay


def run(monkeypatch, capsys, *args: str) -> dict:
    monkeypatch.setattr(sys, "argv", ["replay.py", *args])
    replay.main()
    return json.loads(capsys.readouterr().out)


def test_reports_each_selector_and_collate(monkeypatch, capsys):
    small = ["--scale", "smoke", "--episodes", "3", "--rows", "40", "--repeats", "1"]
    atari = run(monkeypatch, capsys, "--benchmark", "atari", *small)
    assert atari["replay_rows"] == 120 and atari["world_model"]["batch"] == [4, 6]
    assert all(atari[k]["collate_to_device_ms"] > 0 for k in ("world_model", "actor_critic"))
    assert atari["tokenizer"]["draw_and_gather_to_device_ms"] > 0
    assert "tokenizer" not in run(monkeypatch, capsys, "--benchmark", "cartpole", *small)  # no image modality


def test_bad_sizes_stop_with_one_line(monkeypatch, capsys):
    with pytest.raises(SystemExit):
        run(monkeypatch, capsys, "--benchmark", "atari", "--rows", "0")
    assert "--rows and --repeats must be at least 1" in capsys.readouterr().err
