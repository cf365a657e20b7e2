"""Dreams for the play tool: the world model as an environment, batch 1 (design §5.3, §6.2, §8.6).

A dream starts like imagination training: the world model reads c observations and the c − 1 actions
between them, then each `step(action)` samples the next observation's tokens, the reward (HL-Gauss
expectation) and the done flag. The world model was trained on segments of H = `retnet.max_blocks` blocks,
so a dream never lets it predict past block H − 1: its `WorldModelEnv` flushes the memory after H − c steps
and re-seeds it from the last c observations (real or imagined) and the actions between them, with positions
starting at 0 again.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Sequence

import numpy as np
import torch
from torch import Tensor

from m3.agent import Agent
from m3.models.world_model import ImaginationState
from m3.models.world_model_env import WorldModelEnv


class DreamStep(NamedTuple):
    tokens: dict[str, Tensor]  # sampled next observation {name: (1, ...)}
    reward: float
    done: bool
    flushed: bool  # the memory was flushed and re-seeded before this step


class Dream:
    """One imagined environment (batch 1) driven step by step with env actions."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        cfg = agent.world_model.cfg
        self.context = cfg.context_length  # c
        self.env = WorldModelEnv(agent.world_model, agent.codebook, flush_every=cfg.retnet.max_blocks - self.context)

    @property
    def period(self) -> int:
        """H − c: imagined steps between memory flushes."""
        return self.env.flush_every

    @property
    def state(self) -> ImaginationState | None:
        return self.env.state

    def action_tensor(self, action: Any) -> Tensor:
        """An env action (int or (A,) float) → (1,) int64 or (1, A) float32 on the agent's device."""
        continuous = self.agent.spec.action.kind == "continuous"
        dtype = torch.float32 if continuous else torch.int64
        tensor = torch.as_tensor(np.asarray(action), dtype=dtype, device=self.agent.device)
        return tensor.reshape(1, -1) if continuous else tensor.reshape(1)

    @torch.no_grad()
    def reset(self, observations: Sequence[dict[str, np.ndarray]], actions: Sequence[Any]) -> dict[str, Tensor]:
        """Seed from c raw observations o_0..o_{c−1} and the c − 1 actions between them; returns the
        tokens of o_{c−1} {name: (1, ...)}."""
        if len(observations) != self.context or len(actions) != self.context - 1:
            raise ValueError(f"a dream starts from {self.context} observations and {self.context - 1} actions, got "
                             f"{len(observations)} and {len(actions)}")
        tokenize = self.agent.tokenizer.tokenize
        tokens = [tokenize(self.agent.obs_to_tensors({k: v[None] for k, v in o.items()})) for o in observations]
        context = {name: torch.stack([t[name] for t in tokens], dim=1) for name in tokens[0]}  # {name: (1, c, ...)}
        if actions:
            context_actions = torch.stack([self.action_tensor(a) for a in actions], dim=1)  # (1, c − 1[, A])
        else:  # c = 1: no action between context observations
            spec = self.agent.spec.action
            shape, dtype = ((1, 0, spec.n), torch.float32) if spec.kind == "continuous" else ((1, 0), torch.int64)
            context_actions = torch.zeros(shape, dtype=dtype, device=self.agent.device)
        return self.env.reset(context, context_actions)

    def step(self, action: Any) -> DreamStep:
        """Apply `action` to the newest observation and sample the next one (flushing first when due)."""
        out = self.env.step(self.action_tensor(action))
        return DreamStep(out.tokens, float(out.reward[0]), bool(out.done[0]), out.flushed)
