"""The play tool end to end, headless (SDL_VIDEODRIVER=dummy), with tiny untrained agents (design §8.6):
every mode on every benchmark for a few frames with a screenshot, recordings, the viewer keys, bad input."""

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

import imageio.v2 as imageio
import numpy as np
import pygame
import pytest
import torch
from PIL import Image

from m3.agent import Agent
from m3.checkpoint import RunDir
from m3.config import load_config
from m3.data.episode import EpisodeBuilder
from m3.envs import registry
from m3.media import MediaDir, list_episodes, save_episode
from m3.play.__main__ import main, play
from m3.play.modes import EpisodeReplay
from m3.play.panels import Painter
from m3.play.recorder import Recorder
from m3.play.view import Viewer
from m3.train import prepare_run
from m3.weights import load_agent, save_weights

GAMES = {"cartpole": "CartPole-v1", "atari": "Breakout", "dmc": "cheetah-run", "craftax": "Craftax-Symbolic-v1"}
MODES = {"agent_in_env": [], "play_in_world_model": ["-w"], "agent_in_world_model": ["-a"], "episode_replay": ["-e"]}


@pytest.fixture(autouse=True)
def headless(monkeypatch):
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")


def make_run(root: Path, benchmark: str) -> Path:
    """A run folder as training leaves it: config, weights.pt of a random tiny agent, two test episodes."""
    cfg = load_config([f"benchmark={benchmark}", "scale=smoke", f"env.game={GAMES[benchmark]}", f"run_dir={root}"])
    prepare_run(cfg, RunDir(root))
    torch.manual_seed(0)
    spec = registry.env_spec(benchmark, cfg.env)
    save_weights(root / "weights.pt", cfg, Agent(cfg, spec).state_dict(), epoch=0, code_version="test")
    env = registry.make_env(benchmark, cfg.env, "test", seed=0)
    for i in range(2):
        builder = EpisodeBuilder(i, spec.action)
        builder.start(env.reset()[0])
        for _ in range(6):
            action = env.action_space.sample()
            obs, reward, terminated, truncated, _ = env.step(action)
            builder.step(action, reward, terminated, obs)
            if terminated or truncated:
                break
        save_episode(MediaDir(root / "media"), "test", builder.episode(), i, benchmark, GAMES[benchmark])
    return root


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    cache: dict[str, Path] = {}

    def get(benchmark: str) -> Path:
        if benchmark not in cache:
            cache[benchmark] = make_run(tmp_path_factory.mktemp(benchmark), benchmark)
        return cache[benchmark]

    return get


def assert_not_blank(path: Path) -> None:
    image = np.asarray(Image.open(path).convert("RGB"))
    assert image.shape[0] > 300 and image.shape[1] >= 480
    assert image.std() > 10 and len(np.unique(image.reshape(-1, 3), axis=0)) > 20, path


def run_every_mode(run: Path, benchmark: str, out: Path) -> None:
    for name, flag in MODES.items():
        shot = out / f"{benchmark}_{name}.png"
        assert main([benchmark, "-p", str(run), *flag, "-r", "-h", "--frames", "4", "--fps", "240",
                     "--screenshot", str(shot)]) == 0
        assert_not_blank(shot)


@pytest.mark.parametrize("benchmark", ["cartpole", "atari", "dmc"])
def test_every_mode_runs_headless_and_draws(benchmark, runs, tmp_path):
    run_every_mode(runs(benchmark), benchmark, tmp_path)


@pytest.mark.slow
def test_every_mode_runs_headless_and_draws_craftax(runs, tmp_path):
    run_every_mode(runs("craftax"), "craftax", tmp_path)


def test_recording_from_the_command_line(runs):
    run = runs("atari")
    assert main(["atari", "-p", str(run / "weights.pt"), "--record", "--frames", "5", "--fps", "240"]) == 0
    (mp4,) = (run / "media" / "recordings").glob("*.mp4")
    reader = imageio.get_reader(mp4, format="FFMPEG")
    assert sum(1 for _ in reader) == 5
    reader.close()
    data = np.load(mp4.with_suffix(".npz"))
    assert data["frames"].shape == (5, 210, 160, 3)  # the raw ALE frames
    assert np.isnan(data["actions"][0]) and not np.isnan(data["actions"][1:]).any()


def loop_args(frames: int) -> argparse.Namespace:
    return argparse.Namespace(frames=frames, fps=240, record=False)


def press(key: int, mod: int = 0) -> None:
    pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=key, mod=mod))


def test_pause_reset_and_record_keys(runs, tmp_path):
    run = runs("cartpole")
    agent, _ = load_agent(run)
    paths = list_episodes(run / "media" / "episodes")
    painter, recorder = Painter(agent, reconstruction=False), Recorder(tmp_path, fps=240, action_dims=0)
    viewer = Viewer("test", header=True)
    try:
        mode = EpisodeReplay(paths)
        press(pygame.K_PERIOD)
        play(mode, painter, viewer, recorder, (), loop_args(4))
        assert (mode.index, mode.t) == (0, 0)  # paused at the first frame
        mode = EpisodeReplay(paths)
        press(pygame.K_RETURN)
        play(mode, painter, viewer, recorder, (), loop_args(3))
        assert (mode.index, mode.t) == (1, 1)  # shown: episode 0; Enter: episode 1 from its start; one step
        press(pygame.K_r, pygame.KMOD_SHIFT)
        play(EpisodeReplay(paths), painter, viewer, recorder, (), loop_args(3))
        assert recorder.active
        mp4, _ = recorder.stop()
        assert sum(1 for _ in imageio.get_reader(mp4, format="FFMPEG")) == 2  # the frames after the key
        press(pygame.K_r)  # without Shift: a key for the game
        assert viewer.poll().pressed == {pygame.K_r}
    finally:
        viewer.close()


def test_bad_input_stops_with_one_line(runs, tmp_path, capsys):
    run = runs("cartpole")

    def error(argv: list[str]) -> str:
        assert main(argv) == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("m3.play: error: ")
        return lines[0]

    assert "dvc pull" in error(["cartpole", "-p", str(tmp_path / "results/weights/cartpole/seed0.pt")])
    assert "not for atari" in error(["atari", "-p", str(run)])
    assert "--fps 0" in error(["cartpole", "-p", str(run), "--fps", "0"])
    (tmp_path / "corrupt.pt").write_bytes(b"not a torch file")
    assert "corrupt" in error(["cartpole", "-p", str(tmp_path / "corrupt.pt")])
    shutil.copy(run / "weights.pt", tmp_path / "w.pt")
    assert "not inside a run folder" in error(["cartpole", "-p", str(tmp_path / "w.pt"), "-e"])
    assert "no episode files" in error(["cartpole", "-p", str(tmp_path / "w.pt"), "-e", "--episodes",
                                        str(tmp_path / "empty")])
    episodes = str(runs("atari") / "media" / "episodes")
    assert "episode of atari/Breakout" in error(["cartpole", "-p", str(run), "-e", "--episodes", episodes])


def test_module_entry_point(runs):
    env = {**os.environ, "SDL_VIDEODRIVER": "dummy"}
    done = subprocess.run([sys.executable, "-m", "m3.play", "cartpole", "-p", str(runs("cartpole")), "-h",
                           "--frames", "2", "--fps", "240"], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    usage = subprocess.run([sys.executable, "-m", "m3.play", "--help"], capture_output=True, text=True, timeout=300)
    assert usage.returncode == 0 and "-w" in usage.stdout and "--fps" in usage.stdout
