"""The world model as an environment for the play tool (spec §5.3, §6.2, §8.6).

A dream starts like imagination training: the world model reads c observations and the c − 1 actions
between them (`imagine_reset`), then each `step(action)` samples the next observation's tokens, the
reward (HL-Gauss expectation) and the done flag. The world model was trained on segments of
H = `retnet.max_blocks` blocks, so a dream never lets it predict past block H − 1: after H − c steps
its memory is flushed and it is re-seeded from the last c observations (real or imagined) and the
actions between them, with positions starting at 0 again.
"""

from __future__ import annotations

from collections import deque
from typing import Any, NamedTuple, Sequence

import numpy as np
import torch
from torch import Tensor

from m3.agent import Agent


class DreamStep(NamedTuple):
    tokens: dict[str, Tensor]  # sampled next observation {name: (1, ...)}
    reward: float
    done: bool
    flushed: bool  # the memory was flushed and re-seeded before this step


class Dream:
    """One imagined environment (batch 1) driven step by step."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self.world_model = agent.world_model
        self.context = self.world_model.cfg.context_length  # c
        self.period = self.world_model.cfg.retnet.max_blocks - self.context  # H − c steps between flushes
        # the last c observations' tokens and the action taken from each (None for the newest)
        self.history: deque[tuple[dict[str, Tensor], Tensor | None]] = deque(maxlen=self.context)
        self.state: Any = None
        self.steps = 0  # imagined steps since the last (re-)seed

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
        taken: list[Tensor | None] = [self.action_tensor(a) for a in actions]
        self.history = deque(zip(tokens, [*taken, None]), maxlen=self.context)
        self._seed()
        return tokens[-1]

    def _seed(self) -> None:
        """`imagine_reset` from the history: tokens {name: (1, c, ...)}, actions (1, c − 1[, A])."""
        tokens = {name: torch.stack([t[name] for t, _ in self.history], dim=1) for name in self.history[0][0]}
        actions = [a for _, a in self.history][:-1]
        if actions:
            context_actions = torch.stack(actions, dim=1)
        else:  # c = 1: no action between context observations
            spec = self.agent.spec.action
            shape, dtype = ((1, 0, spec.n), torch.float32) if spec.kind == "continuous" else ((1, 0), torch.int64)
            context_actions = torch.zeros(shape, dtype=dtype, device=self.agent.device)
        self.state = self.world_model.imagine_reset(tokens, context_actions, self.agent.codebook)
        self.steps = 0

    @torch.no_grad()
    def step(self, action: Any) -> DreamStep:
        """Apply `action` to the newest observation and sample the next one (flushing first when due)."""
        flushed = self.steps == self.period
        if flushed:
            self._seed()
        a = self.action_tensor(action)
        out = self.world_model.imagine_step(self.state, a, self.agent.codebook)
        self.state, self.steps = out.state, self.steps + 1
        self.history[-1] = (self.history[-1][0], a)
        self.history.append((out.tokens, None))
        return DreamStep(out.tokens, float(out.reward[0]), bool(out.done[0]), flushed)
