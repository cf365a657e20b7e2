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
    fig, ax = plt.subplots(figsize=(12, 3.4), layout="constrained")
    ax.imshow(reconstruction_grid(originals.numpy(), recon))
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
    names = [m for m in ("vector", "token", "token_2d") if m in real]
    fig, axes = plt.subplots(1, len(names) + 1, figsize=(4.2 * (len(names) + 1), 3.4), layout="constrained")
    steps = np.arange(1, len(rewards[0]) + 1)
    for ax, name in zip(axes, names):
        if name == "vector":
            levels = agent.tokenizer.vector.detokenize
            r, m = levels(real[name]).cpu().numpy(), levels(imagined[name]).cpu().numpy()  # (n, D) symlog levels
            for j, d in enumerate(np.argsort(-r.std(0))[:dims]):
                ax.plot(steps, r[:, d], color=f"C{j}", lw=1.5)
                ax.plot(steps, m[:, d], color=f"C{j}", lw=1.5, ls="--")
            ax.set(ylabel="symlog level", title=f"vector: {min(dims, r.shape[1])} busiest dims (solid real, dashed "
                                                f"imagined)")
        elif name == "token":
            ax.step(steps, real[name][:, 0].cpu(), label="real")
            ax.step(steps, imagined[name][:, 0].cpu(), ls="--", label="imagined")
            ax.set(ylabel="token id", title="token")
            ax.legend(fontsize=8)
        else:
            agree = (real[name] == imagined[name]).float().mean((1, 2)).cpu()
            ax.plot(steps, agree, "o-")
            ax.set(ylim=(0, 1.02), ylabel="share of map columns equal to real", title="token_2d (map)")
        ax.set(xlabel="imagined step")
    axes[-1].plot(steps, rewards[0], label="real")
    axes[-1].plot(steps, rewards[1], ls="--", label="imagined")
    axes[-1].set(xlabel="imagined step", ylabel="reward", title="reward")
    axes[-1].legend(fontsize=8)
    _save(fig, path)


def _save(fig, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
