"""benchmarks/direction_probe.py: the synthetic segments follow Craftax's direction rule, and a world model with
the direction token alone learns that rule within a few dozen updates."""

import json
import subprocess
import sys

import torch

from benchmarks.direction_probe import segments


def test_segments_follow_the_direction_rule_and_repeat_their_cells():
    tokens, actions = segments(cells=3, batch=16, length=30, generator=torch.Generator().manual_seed(0))
    direction = tokens["token"][..., 0]  # (B, L)
    assert tokens["token"].shape == (16, 30, 1) and tokens["token_2d"].shape == (16, 30, 3, 4)
    for b in range(16):
        for t in range(1, 30):
            a = int(actions[b, t - 1])
            expected = a - 1 if 1 <= a <= 4 else int(direction[b, t - 1])
            assert int(direction[b, t]) == expected
    assert torch.equal(tokens["token_2d"], tokens["token_2d"][:, :1].expand_as(tokens["token_2d"]))
    assert int(tokens["token_2d"][..., 0].max()) < 37 and int(tokens["token_2d"][..., 3].max()) < 20


def test_the_direction_alone_is_learned():
    done = subprocess.run([sys.executable, "-m", "benchmarks.direction_probe", "--cells", "0", "--updates", "60",
                           "--evals", "2"], check=True, capture_output=True, text=True, timeout=300)
    report = json.loads(done.stdout)
    curve = report["curve"]
    assert [p["updates"] for p in curve] == [0, 30, 60]
    assert curve[-1]["direction_ce"] < 0.8 * report["direction_marginal"]  # ln 4 for the untrained model
    assert curve[-1]["cell_ce"] is None and report["retnet"] == {"layers": 2, "heads": 2, "width": 64}
