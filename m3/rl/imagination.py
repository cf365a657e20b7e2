"""Imagination training of the latent-space actor-critic (design §6.2, §6.3, §11 D2, D3).

`imagine` burns the actor-critic in on a replayed segment, starts the world model from the segment's
last context observations and rolls the policy out for H' = imagine_horizon − c + 1 imagined steps;
the world model runs as a `WorldModelEnv`; `actor_critic_loss` turns the rollout into the REINFORCE + entropy
+ HL-Gauss critic loss, on the actor-critic's own value support. Only the actor-critic receives gradients: the
tokenizer and world model run in eval mode without gradient.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields

import torch
from torch import Tensor, nn

from m3.models.actor_critic import ActorCritic
from m3.models.tokenizers import MultiModalTokenizer
from m3.models.world_model import WorldModel
from m3.models.world_model_env import WorldModelEnv
from m3.rl.returns import ReturnScaler, lambda_returns


@dataclass
class ImaginationConfig:
    """Actor-critic training settings (design §3.1, §3.3)."""

    burn_in: int = 20  # real steps fed to the actor-critic before imagination starts (segment = burn_in + c)
    imagine_horizon: int = 10  # = retnet.max_blocks; H' = imagine_horizon − c + 1 imagined steps
    gamma: float = 0.99  # discount of the λ-returns
    lambda_: float = 0.95  # λ of the λ-returns
    entropy_weight: float = 0.001  # of the policy's entropy bonus
    real_reward_weight: float = 1.0  # of the world model's predicted reward in the imagined reward
    intrinsic_reward_weight: float = 1.0  # of the curiosity (ensemble disagreement) reward
    return_buffer_size: int = 501  # λ-return tensors the return scaler's percentiles are taken over


@dataclass(frozen=True)
class SegmentIndices:
    """Where imagination starts inside a segment of L steps indexed 0..L−1 (design §6.2, §11 D2)."""

    burn_in: slice  # actor-critic burn-in (o_0, a_0) .. (o_{L−3}, a_{L−3})
    context_obs: slice  # WM context o_{L−1−c} .. o_{L−2}
    context_actions: slice  # the c − 1 actions between them, a_{L−1−c} .. a_{L−3}
    first_input: int  # L − 2: the first actor-critic input, the last context obs the WM consumed


def segment_indices(L: int, c: int) -> SegmentIndices:
    """D2: the actor-critic and the WM start from the same step. The burn-in ends at (o_{L−3}, a_{L−3}); the
    WM context is the c observations ending at o_{L−2}; the first actor-critic input is o_{L−2}, so the action
    sampled there is the one the WM applies next. The possibly terminal o_{L−1} is never consumed."""
    if c < 1 or L < c + 1:
        raise ValueError(f"need context c >= 1 and a segment of at least c + 1 steps, got {L=}, {c=}")
    return SegmentIndices(slice(0, L - 2), slice(L - 1 - c, L - 1), slice(L - 1 - c, L - 2), L - 2)


@dataclass
class Trajectory:
    """An imagined rollout of H' steps (B batch)."""

    actions: Tensor  # (B, H') int64 or (B, H', A)
    log_probs: Tensor  # (B, H') log π(a_t), with gradient
    entropies: Tensor  # (B, H') H(π_t), with gradient
    value_logits: Tensor  # (B, H', bins + 1) critic logits, with gradient
    values: Tensor  # (B, H') detached symexp(expected bin centre)
    rewards: Tensor  # (B, H') real_w · r̂ + intr_w · JSD
    intrinsic_rewards: Tensor  # (B, H') the JSD part, unweighted
    dones: Tensor  # (B, H') bool, sampled by the WM


@contextmanager
def _eval_mode(*modules: nn.Module) -> Iterator[None]:
    """Put `modules` in eval mode for the block, then restore their previous modes."""
    modes = [m.training for m in modules]
    for m in modules:
        m.eval()
    try:
        yield
    finally:
        for m, mode in zip(modules, modes):
            m.train(mode)


def _at(x: dict[str, Tensor], index: slice | int) -> dict[str, Tensor]:
    return {k: v[:, index] for k, v in x.items()}


def imagine(tokenizer: MultiModalTokenizer, world_model: WorldModel, actor_critic: ActorCritic, batch: dict,
            cfg: ImaginationConfig, context_length: int, tokens: dict[str, Tensor] | None = None) -> Trajectory:
    """Roll the actor-critic out in the world model from a left-padded AC segment batch (design §6.2).

    batch: docs/interfaces.md "Batches", L = burn_in + c steps; `tokens`: the batch's observation tokens
    {name: (B, L, ...)} when already known (m3/token_cache.py), else the tokenizer encodes `batch["obs"]`. The
    burn-in runs without gradient (it only sets the start state); gradients flow through the H' imagined steps of
    the actor-critic.
    """
    mask = batch["mask_padding"].bool()  # (B, L)
    actions = batch["actions"]  # (B, L) or (B, L, A)
    L = mask.shape[1]
    idx = segment_indices(L, context_length)
    horizon = cfg.imagine_horizon - context_length + 1  # H'
    codebook = tokenizer.image.codebook.weight.detach() if tokenizer.image is not None else None
    env = WorldModelEnv(world_model, codebook)
    steps: dict[str, list[Tensor]] = {f.name: [] for f in fields(Trajectory)}
    with _eval_mode(tokenizer, world_model):
        with torch.no_grad():
            # {name: (B, L − 1, ...)}; the last step o_{L−1} is never consumed
            consumed = slice(0, L - 1)
            tokens = tokenizer.tokenize(_at(batch["obs"], consumed)) if tokens is None else _at(tokens, consumed)
            codes = tokenizer.codes(tokens)
            state = actor_critic.burn_in(_at(codes, idx.burn_in), actions[:, idx.burn_in], mask[:, idx.burn_in])
            env.reset(_at(tokens, idx.context_obs), actions[:, idx.context_actions])
        inputs = _at(codes, idx.first_input)  # {name: (B, ...)}: o_{L−2}
        for _ in range(horizon):
            policy, value_logits, state = actor_critic.obs_logits(inputs, state)
            action = policy.sample()  # temperature 1
            state = actor_critic.action_step(action, state)
            with torch.no_grad():
                step = env.step(action)
                inputs = tokenizer.codes(step.tokens)
            steps["actions"].append(action)
            steps["log_probs"].append(policy.log_prob(action))
            steps["entropies"].append(policy.entropy())
            steps["value_logits"].append(value_logits)
            steps["values"].append(actor_critic.value(value_logits.detach()))
            steps["rewards"].append(cfg.real_reward_weight * step.reward + cfg.intrinsic_reward_weight * step.intrinsic)
            steps["intrinsic_rewards"].append(step.intrinsic)
            steps["dones"].append(step.done)
    return Trajectory(**{k: torch.stack(v, dim=1) for k, v in steps.items()})


def _stats(metrics: dict[str, Tensor], name: str, x: Tensor) -> None:
    x = x.detach().float()
    metrics[f"{name}_mean"] = x.mean()
    metrics[f"{name}_std"] = x.std() if x.numel() > 1 else x.new_zeros(())


def actor_critic_loss(traj: Trajectory, actor_critic: ActorCritic, cfg: ImaginationConfig, scaler: ReturnScaler,
                      train_actor: bool) -> tuple[Tensor, dict[str, float]]:
    """REINFORCE + entropy + the actor-critic's HL-Gauss critic loss (`ActorCritic.value_loss`) over t = 0..H'−2
    (design §6.2).

    G = λ-returns with G_{H'−1} = V_{H'−1} (the last step only bootstraps). The trained returns
    G_{0..H'−2} enter the scaler's FIFO first; A = (G − V) / max(1, ½(P97.5 − P2.5)) over the FIFO,
    detached. With `train_actor` False (critic warm-up) the actor and entropy terms are zero.
    """
    returns = lambda_returns(traj.rewards, traj.values, traj.dones, cfg.gamma, cfg.lambda_)[:, :-1]  # (B, H'−1)
    scaler.update(returns)
    scale = scaler.scale()
    advantages = ((returns - traj.values[:, :-1]) / scale).detach()  # (B, H'−1)
    log_probs = traj.log_probs[:, :-1]
    loss_values = actor_critic.value_loss(traj.value_logits[:, :-1], returns).mean()
    if train_actor:
        loss_actor = -(log_probs * advantages).mean()
        loss_entropy = -cfg.entropy_weight * traj.entropies[:, :-1].mean()
    else:
        loss_actor = loss_entropy = loss_values.new_zeros(())
    loss = loss_actor + loss_entropy + loss_values
    terms = {"total_loss": loss, "loss_actor": loss_actor, "loss_values": loss_values, "loss_entropy": loss_entropy}
    metrics = {k: v.detach() for k, v in terms.items()}
    _stats(metrics, "imagined_rewards", traj.rewards)
    _stats(metrics, "imagined_intrinsic_rewards", traj.intrinsic_rewards)
    _stats(metrics, "returns", returns)
    _stats(metrics, "values", traj.values[:, :-1])
    _stats(metrics, "normalized_advantage", advantages)
    _stats(metrics, "log_probs", log_probs)
    values = torch.stack([v.double() for v in metrics.values()]).tolist()  # one device sync for all metrics
    return loss, dict(zip(metrics, values)) | {"returns_scale_mean": scale}
