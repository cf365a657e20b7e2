"""What a training epoch does, and the seeds of its evaluations (design §3.1, §6.2, §7.1).

Pure functions of the config and the epoch number: the trainer asks them at every epoch, and the
full-schedule tests walk them from the first epoch to the last without training.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable

from m3.config import M3Config
from m3.envs.seeding import derive_seed


@dataclass(frozen=True)
class EpochPlan:
    """The steps of one epoch of §7.1, in order."""

    collect: bool  # step 1: collect train steps (epoch ≤ stop_after_epochs)
    tokenizer: bool  # step 2: tokenizer updates (trainable, epoch > start)
    world_model: bool  # step 3: world-model updates (epoch > start)
    actor_critic: bool  # step 4: actor-critic updates (epoch > start); the critic loss is always on
    actor: bool  # the actor and entropy losses are on, except while epoch < start + critic_warmup_epochs (§6.2)
    evaluate: bool  # step 5: every `evaluation.every` epochs, once epoch ≥ the tokenizer's start
    checkpoint: bool  # step 6: every `evaluation.every` epochs, and after the last epoch


def epoch_plan(cfg: M3Config, epoch: int, tokenizer_trainable: bool) -> EpochPlan:
    """The plan of `epoch` (1-based) of a run with config `cfg`."""
    if not 1 <= epoch <= cfg.epochs:
        raise ValueError(f"epoch {epoch} is outside the run's epochs 1..{cfg.epochs}")
    t, periodic = cfg.training, epoch % cfg.evaluation.every == 0
    ac = t.actor_critic
    actor_critic = epoch > ac.start_after_epochs
    return EpochPlan(
        collect=epoch <= cfg.collection.train.stop_after_epochs,
        tokenizer=tokenizer_trainable and epoch > t.tokenizer.start_after_epochs,
        world_model=epoch > t.world_model.start_after_epochs,
        actor_critic=actor_critic,
        actor=actor_critic and epoch >= ac.start_after_epochs + ac.critic_warmup_epochs,
        evaluate=periodic and epoch >= t.tokenizer.start_after_epochs,
        checkpoint=periodic or epoch == cfg.epochs,
    )


def evaluation_seeds(cfg: M3Config, epoch: int | None) -> Callable[[int], int]:
    """Episode index j → its reset seed in the periodic evaluation of `epoch`, or in the final evaluation
    (`epoch=None`). Evaluations of a run, and runs, share a seed only by a 32-bit hash coincidence
(`m3.envs.seeding`)."""
    if epoch is None:
        return functools.partial(derive_seed, cfg.seed, "final")
    return functools.partial(derive_seed, cfg.seed, "evaluation", epoch)


def eval_env_seeds(run_seed: int, num_envs: int) -> list[int]:
    """The construction seeds of a run's `num_envs` test env workers (every evaluation then resets each
    episode with its own seed)."""
    return [derive_seed(run_seed, "test_env", i) for i in range(num_envs)]


__all__ = ["EpochPlan", "epoch_plan", "evaluation_seeds", "eval_env_seeds"]
