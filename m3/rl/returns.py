"""λ-returns and the percentile return scaler of the actor-critic loss (design §6.2)."""

from __future__ import annotations

from collections import deque

import torch
from torch import Tensor


def lambda_returns(rewards: Tensor, values: Tensor, dones: Tensor, gamma: float, lam: float) -> Tensor:
    """The IRIS λ-return recursion over an imagined rollout (design §6.2).

    rewards, values, dones: (B, H); dones bool or float. Returns G (B, H) with
        G_{H−1} = V_{H−1},
        G_t = r_t + γ(1 − d_t)[(1 − λ)V_{t+1} + λG_{t+1}].
    The last step only bootstraps; callers train on t = 0..H−2.
    """
    not_done = 1.0 - dones.to(rewards.dtype)  # (B, H)
    returns = [values[:, -1]]
    for t in range(rewards.shape[1] - 2, -1, -1):
        bootstrap = (1.0 - lam) * values[:, t + 1] + lam * returns[-1]  # (B,)
        returns.append(rewards[:, t] + gamma * not_done[:, t] * bootstrap)
    return torch.stack(returns[::-1], dim=1)  # (B, H)


class ReturnScaler:
    """Advantage divisor max(1, 0.5·(P97.5 − P2.5)) over a FIFO of recent λ-return tensors (design §6.2).

    Percentiles use linear interpolation (numpy's default) over every value stored in the FIFO.
    An empty FIFO gives 1.
    """

    def __init__(self, capacity: int = 501) -> None:
        self.capacity = capacity
        self.buffer: deque[Tensor] = deque(maxlen=capacity)

    def update(self, returns: Tensor) -> None:
        """Append a detached, flattened copy of `returns` (any shape); the oldest falls out at capacity."""
        self.buffer.append(returns.detach().flatten().clone())

    def scale(self) -> float:
        if not self.buffer:
            return 1.0
        values = torch.cat(list(self.buffer))
        values = values.to(torch.promote_types(values.dtype, torch.float32))
        q = torch.quantile(values, torch.tensor([0.025, 0.975], device=values.device), interpolation="linear")
        return max(1.0, 0.5 * float(q[1] - q[0]))

    def state_dict(self) -> dict:
        return {"capacity": self.capacity, "buffer": [t.cpu() for t in self.buffer]}

    def load_state_dict(self, state: dict) -> None:
        self.capacity = int(state["capacity"])
        self.buffer = deque((t.clone() for t in state["buffer"]), maxlen=self.capacity)
