"""Figures of benchmarks/components.py: held-out curves with baselines, reconstructions, imagined rollouts."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from m3.agent import Agent  # noqa: E402
from m3.data import Episode  # noqa: E402
from m3.media import reconstruction_grid, to_uint8  # noqa: E402
from m3.play.dream import Dream  # noqa: E402

PREDICTORS = {"world_model": ("world model", "C0", "-"), "marginal": ("marginal", "grey", "--"),
              "copy_last": ("copy last", "C3", ":")}


def curves_figure(report: dict, path: Path) -> None:
    """Held-out tokenizer MSE (image envs) and world-model CEs against updates, baselines as lines."""
    wm = report["world_model"]["curve"]
    panels = [("obs_ce", "next-token CE (nats/token)"), ("reward_ce", "reward CE (nats)"), ("end_ce", "end CE (nats)")]
    tok = report.get("tokenizer")
    fig, axes = plt.subplots(1, len(panels) + bool(tok), figsize=(4.0 * (len(panels) + bool(tok)), 3.4),
                             layout="constrained")
    if tok:
        ax, axes = axes[0], axes[1:]
        ax.plot([p["updates"] for p in tok["curve"]], [p["reconstruction_loss"] for p in tok["curve"]], "o-",
                label="tokenizer")
        ax.axhline(tok["target_mse"], color="C2", ls="--", label=f"target {tok['target_mse']:.2g}")
        ax.axhline(tok["mean_frame_mse"], color="grey", ls="--", label="mean frame")
        ax.set(yscale="log", xlabel="tokenizer updates", ylabel="held-out pixel MSE ([-1, 1] scale)")
        ax.legend(fontsize=8)
    updates = [p["updates"] for p in wm]
    for ax, (key, label) in zip(axes, panels):
        ax.plot(updates, [p[key]["world_model"] for p in wm], "o-", color="C0", label="world model")
        for name, (text, colour, style) in PREDICTORS.items():
            if name != "world_model" and name in wm[-1][key]:
                ax.axhline(wm[-1][key][name], color=colour, ls=style, label=text)
        if "target_entropy" in wm[-1][key]:
            ax.axhline(wm[-1][key]["target_entropy"], color="black", lw=0.8, label="floor (target entropy)")
        # log scale: the untrained value sits far above the baselines the trained model is compared with
        ax.set(xlabel="world-model updates", ylabel=f"held-out {label}", yscale="log" if key != "end_ce" else "linear")
        ax.legend(fontsize=8)
    fig.suptitle(f"{report['benchmark']} {report['game']}: held-out losses, random-play data (seed {report['seed']})")
    _save(fig, path)


@torch.no_grad()
def reconstruction_figure(agent: Agent, episodes: list[Episode], path: Path, n: int = 16) -> None:
    """n held-out frames, evenly spaced, each above its reconstruction."""
    frames = torch.cat([e.observations["image"] for e in episodes])
    originals = frames[torch.linspace(0, len(frames) - 1, n).long()]
    recon = to_uint8(agent.tokenizer.image.reconstruct(originals.to(agent.device)))
    grid = reconstruction_grid(originals.numpy(), recon)  # (H, W, 3)
    fig, ax = plt.subplots(figsize=(9, 9 * grid.shape[0] / grid.shape[1] + 0.4), layout="constrained")
    ax.imshow(grid)
    ax.set(title="held-out frames (rows 1, 3) above their reconstructions (rows 2, 4)", xticks=[], yticks=[])
    _save(fig, path)


@torch.no_grad()
def rollout_figure(agent: Agent, episodes: list[Episode], path: Path, seed: int, offset: int = 20) -> None:
    """The world model fed the real actions from c real observations of the longest held-out episode, for
    H − c steps (one segment, §5.3), beside the real continuation."""
    agent.eval()
    torch.manual_seed(seed)
    dream = Dream(agent)
    c, n = dream.context, dream.period
    episode = max(episodes, key=len)
    s = max(0, min(offset, len(episode) - 1 - c - n))
    n = min(n, len(episode) - s - c)
    raw = [{k: v[s + i].numpy() for k, v in episode.observations.items()} for i in range(c)]
    dream.reset(raw, [episode.actions[s + i].numpy() for i in range(c - 1)])
    steps = [dream.step(episode.actions[s + c - 1 + k].numpy()) for k in range(n)]
    imagined = {m: torch.cat([d.tokens[m] for d in steps]) for m in steps[0].tokens}  # {m: (n, ...)}
    real_obs = {m: v[s + c : s + c + n].to(agent.device) for m, v in episode.observations.items()}
    real = agent.tokenizer.tokenize(real_obs)
    rewards = (episode.rewards[s + c - 1 : s + c - 1 + n].numpy(), np.array([d.reward for d in steps]))
    if "image" in imagined:
        _image_rollout(agent, real_obs["image"], imagined["image"], rewards, path)
    else:
        _vector_rollout(agent, real, imagined, rewards, path)


def _image_rollout(agent: Agent, real: torch.Tensor, tokens: torch.Tensor, rewards, path: Path) -> None:
    image = agent.tokenizer.image
    frames = to_uint8((image.decode(image.embed(tokens)) + 1) / 2)  # (n, 3, 64, 64)
    fig, ax = plt.subplots(figsize=(1.3 * len(frames), 3.2), layout="constrained")
    ax.imshow(reconstruction_grid(real.cpu().numpy(), frames, columns=len(frames)))
    ax.set(title=f"top: real continuation; bottom: imagined from the real actions (rewards real "
                 f"{rewards[0].sum():g}, imagined {rewards[1].sum():.2f})", xticks=[], yticks=[])
    _save(fig, path)


def _vector_rollout(agent: Agent, real: dict, imagined: dict, rewards, path: Path, dims: int = 6) -> None:
    """Top row: the busiest vector dimensions, one panel each (small multiples, own y-scales); bottom row: the
    token, map and reward panels."""
    steps = np.arange(1, len(rewards[0]) + 1)
    vector, busiest = "vector" in real, []
    if vector:
        levels = agent.tokenizer.vector.detokenize
        r, m = levels(real["vector"]).cpu().numpy(), levels(imagined["vector"]).cpu().numpy()  # (n, D) symlog levels
        busiest = np.argsort(-r.std(0))[:dims]
    others = [name for name in ("token", "token_2d") if name in real] + ["reward"]
    columns = max(len(busiest), len(others))
    fig = plt.figure(figsize=(2.6 * columns, 2.5 * (1 + vector)), layout="constrained")
    grid = fig.add_gridspec(1 + vector, columns)
    for j, d in enumerate(busiest):
        ax = fig.add_subplot(grid[0, j])
        ax.plot(steps, r[:, d], lw=1.5, label="real")
        ax.plot(steps, m[:, d], lw=1.5, ls="--", label="imagined")
        ax.set(title=f"vector dim {d}", xlabel="imagined step", ylabel="symlog level" if j == 0 else None)
        if j == 0:
            ax.legend(fontsize=7)
    for j, name in enumerate(others):
        ax = fig.add_subplot(grid[int(vector), j])
        if name == "token":
            ax.step(steps, real[name][:, 0].cpu(), label="real")
            ax.step(steps, imagined[name][:, 0].cpu(), ls="--", label="imagined")
            ax.set(ylabel="token id", title="token")
        elif name == "token_2d":
            agree = (real[name] == imagined[name]).float().mean((1, 2)).cpu()
            ax.plot(steps, agree, "o-")
            ax.set(ylim=(0, 1.02), ylabel="share of map entries equal to real", title="token_2d (map)")
        else:
            ax.plot(steps, rewards[0], label="real")
            ax.plot(steps, rewards[1], ls="--", label="imagined")
            ax.set(ylabel="reward", title="reward")
        if name != "token_2d":
            ax.legend(fontsize=7)
        ax.set(xlabel="imagined step")
    fig.suptitle("the world model fed the real actions (dashed) beside the real continuation (solid)")
    _save(fig, path)


def _save(fig, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
