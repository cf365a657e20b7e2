"""`python -m m3.play <benchmark> -p <weights file or run folder> [-w | -a | -e] [-r] [-h] [--fps N]` (design §8.6).

Opens a pygame window on the agent in the real environment (default), the keyboard in the world model
(`-w`), the agent in the world model (`-a`) or the stored episodes (`-e`). `-r` adds the input and its
reconstruction (or decoded tokens), `-h` a header line. Enter resets, `.` pauses, Shift+R starts and
stops a recording to `media/recordings/`, Escape quits. `--frames N` stops after N frames and
`--screenshot` saves the last one, for headless runs (`SDL_VIDEODRIVER=dummy`). A missing or unusable
weights file, a benchmark mismatch or a missing episode folder stops at once with one line, exit 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from PIL import Image

from m3.agent import Agent
from m3.checkpoint import CheckpointError, RunDir
from m3.config import ConfigError, M3Config
from m3.envs import registry
from m3.media import MediaDir, list_episodes, load_episode
from m3.play.dream import Dream
from m3.play.keys import action_names, format_action, key_map
from m3.play.modes import AgentInEnv, AgentInWorldModel, AgentPolicy, EpisodeReplay, Frame, Mode, PlayInWorldModel
from m3.play.panels import Painter
from m3.play.recorder import Recorder
from m3.play.view import Viewer
from m3.weights import load_agent


class PlayError(ValueError):
    """Bad input to the play tool; the message says what and what is allowed."""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m m3.play", add_help=False,
        description="Watch the agent, play in its world model, or replay stored episodes (design §8.6).",
        epilog="Keys: Enter resets, '.' pauses, Shift+R starts/stops a recording, Escape quits. See docs/play.md.")
    p.add_argument("--help", action="help", help="show this help and exit")
    p.add_argument("benchmark", choices=registry.benchmarks(), help="the benchmark the weights were trained on")
    p.add_argument("-p", "--weights", type=Path, required=True,
                   help="weights file (weights.pt, results/weights/...) or run folder")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("-w", dest="mode", action="store_const", const="play_in_world_model",
                      help="play in the world model with the keyboard")
    mode.add_argument("-a", dest="mode", action="store_const", const="agent_in_world_model",
                      help="the agent in the world model")
    mode.add_argument("-e", dest="mode", action="store_const", const="episode_replay",
                      help="replay the episodes stored in media/episodes")
    p.set_defaults(mode="agent_in_env")
    p.add_argument("-r", "--reconstruction", action="store_true",
                   help="show the original frame, the input and its reconstruction (or decoded tokens)")
    p.add_argument("-h", "--header", action="store_true", help="show step, action, reward and return")
    p.add_argument("--fps", type=int, default=15, help="frames per second, 1-240 (default 15)")
    p.add_argument("--temperature", type=float, help="the agent's sampling temperature (default: the test one)")
    p.add_argument("--seed", type=int, default=0, help="env and sampling seed (default 0)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--episodes", type=Path, help="episode folder for -e (default <run>/media/episodes)")
    p.add_argument("--media", type=Path, help="media folder for recordings (default <run>/media, else ./media)")
    p.add_argument("--record", action="store_true", help="start recording at once (as Shift+R)")
    p.add_argument("--frames", type=int, help="stop after this many frames")
    p.add_argument("--screenshot", type=Path, help="save the last frame shown as a PNG")
    return p


def run_root(weights: Path) -> Path | None:
    """The run folder of `weights`: itself if a folder, else its parent if that is a run folder."""
    if weights.is_dir():
        return weights
    return weights.parent if RunDir(weights.parent).config.exists() else None


def check(args: argparse.Namespace) -> None:
    """Everything that can be checked before loading anything."""
    if not 1 <= args.fps <= 240:
        raise PlayError(f"--fps {args.fps} is out of range; allowed: 1-240")
    if args.frames is not None and args.frames < 1:
        raise PlayError(f"--frames {args.frames} must be at least 1")
    if args.device == "cuda" and not torch.cuda.is_available():
        raise PlayError("--device cuda: no CUDA device is available; use --device cpu")
    if not args.weights.exists():
        raise PlayError(f"{args.weights} does not exist; pass a weights file or a run folder (weights tracked by "
                        "DVC under results/weights/ arrive with `dvc pull`)")


def episode_files(args: argparse.Namespace, root: Path | None, cfg: M3Config) -> list[Path]:
    """The stored episodes for `-e`, checked to belong to the weights' benchmark and game."""
    folder = args.episodes or (None if root is None else RunDir(root).media / "episodes")
    if folder is None:
        raise PlayError(f"-e needs stored episodes: {args.weights} is not inside a run folder; pass the run folder "
                        "or --episodes <run>/media/episodes")
    paths = list_episodes(folder)
    if not paths:
        raise PlayError(f"no episode files under {folder}/{{test,train}} (training writes them every evaluation)")
    first = load_episode(paths[0])
    if (first.benchmark, first.game) != (cfg.benchmark, cfg.env.game):
        raise PlayError(f"{paths[0]} is an episode of {first.benchmark}/{first.game}, but the weights are for "
                        f"{cfg.benchmark}/{cfg.env.game}")
    return paths


def header(mode_name: str, frame: Frame, names: tuple[str, ...]) -> tuple[str, str]:
    """The two header lines: mode, step and action; reward, return and the frame's note."""
    second = f"reward {frame.reward:.2f} | return {frame.ret:.2f}"
    return (f"{mode_name} | step {frame.step} | action {format_action(frame.action, names)}",
            f"{second} | {frame.note}" if frame.note else second)


def build_mode(args: argparse.Namespace, agent: Agent, cfg: M3Config, env: gym.Env, paths: list[Path]) -> Mode:
    """The mode `args` asks for; `-w` prints its key legend."""
    generator = torch.Generator().manual_seed(args.seed)
    torch.manual_seed(args.seed)  # the world model samples from torch's global generator
    temperature = cfg.collection.test.temperature if args.temperature is None else args.temperature
    policy = AgentPolicy(agent, temperature, generator)
    if args.mode == "agent_in_env":
        return AgentInEnv(env, policy)
    if args.mode == "agent_in_world_model":
        return AgentInWorldModel(env, Dream(agent), policy)
    if args.mode == "episode_replay":
        return EpisodeReplay(paths)
    try:
        keys = key_map(cfg.benchmark, env, agent.spec.action.n)
    except ValueError as e:
        raise PlayError(str(e)) from e
    print("keys: " + "; ".join(keys.legend()))
    return PlayInWorldModel(env, Dream(agent), keys)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    env = None
    try:
        check(args)
        agent, loaded = load_agent(args.weights, args.device)
        cfg = loaded.cfg
        if cfg.benchmark != args.benchmark:
            raise PlayError(f"{loaded.path} holds an agent for {cfg.benchmark}/{cfg.env.game}, "
                            f"not for {args.benchmark}")
        root = run_root(args.weights)
        paths = episode_files(args, root, cfg) if args.mode == "episode_replay" else []
        env = registry.make_env(cfg.benchmark, cfg.env, "test", args.seed)
        mode = build_mode(args, agent, cfg, env, paths)
    except (PlayError, CheckpointError, ConfigError) as e:
        if env is not None:
            env.close()
        print(f"m3.play: error: {e}", file=sys.stderr)
        return 2
    names = action_names(cfg.benchmark, env)
    media = MediaDir(args.media or (RunDir(root).media if root is not None else Path("media")))
    action_dims = agent.spec.action.n if agent.spec.action.kind == "continuous" else 0
    recorder = Recorder(media.recordings, args.fps, action_dims)
    viewer = Viewer(f"{cfg.benchmark}/{cfg.env.game}, {mode.name}", args.header)
    try:
        last = play(mode, Painter(agent, args.reconstruction), viewer, recorder, names, args)
    finally:
        if recorder.active:
            print("recorded {} and {}".format(*recorder.stop()))
        viewer.close()
        env.close()
    if args.screenshot is not None:
        args.screenshot.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(last).save(args.screenshot)
    return 0


def play(mode: Mode, painter: Painter, viewer: Viewer, recorder: Recorder, names: tuple[str, ...],
         args: argparse.Namespace) -> np.ndarray:
    """The display loop; returns the last frame shown (RGB)."""
    frame, paused, shown = mode.reset(), False, 0
    if args.record:
        recorder.start()
    while True:
        pictures = painter.pictures(frame)
        status = (" [paused]" if paused else "") + (" [REC]" if recorder.active else "")
        viewer.show(pictures, header(mode.name, frame, names), status)
        if recorder.active and not paused:
            recorder.add(viewer.snapshot(), pictures[0][1], frame.action, frame.reward, frame.ret)
        shown += 1
        if args.frames is not None and shown >= args.frames:
            break
        viewer.tick(args.fps)
        commands = viewer.poll()
        if commands.quit:
            break
        paused ^= commands.pause
        if commands.record and recorder.active:
            print("recorded {} and {}".format(*recorder.stop()))
        elif commands.record:
            recorder.start()
        if commands.reset:
            frame = mode.reset()
        elif not paused:
            frame = mode.reset() if frame.done else mode.step(commands.pressed)
    return viewer.snapshot()


if __name__ == "__main__":
    sys.exit(main())
