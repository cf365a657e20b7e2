"""World-model losses on held-out episodes beside two baselines measured on the same targets (issue 15 item 3).

The targets are those of `m3.evaluation.losses`: windows of `max_blocks` steps that start every `max_blocks − c`
steps; in each window the observations at positions ≥ c are token targets and the pairs (t, t + 1) are reward
and end targets, exactly as in `WorldModel.compute_loss` (§5.4, §11 D1). On them three predictors are scored:

- `world_model`: the trained world model's heads;
- `marginal`: each token position's token distribution over the training episodes (add-one smoothing); the
  mean HL-Gauss target distribution of the training rewards (floored at 1e-8 per bin); the training frequency
  of episode ends;
- `copy_last`: the previous step's token (or reward) with probability 1 − ε, else the marginal, with ε fitted
  on the training episodes. It is not defined for ends (the previous end flag is always 0 inside an episode).

`reward_ce/target_entropy` is the floor of any reward CE: the entropy of the HL-Gauss targets themselves.
Cross-entropies are in nats per token (a `token_2d` cell is one token whose CE sums its columns, §4.4), per
reward and per end; accuracies are per token column (argmax for the world model and the marginal).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor

from m3.agent import Agent
from m3.data import Episode, ReplayStore, batch_to
from m3.evaluation import eval_windows
from m3.models.heads import entropy, split_columns
from m3.models.distributions import symlog

COPY_EPSILONS = (1e-4, 1e-3, 3e-3, 0.01, 0.03, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9)


def columns(agent: Agent, tokens: dict[str, Tensor]) -> Iterator[tuple[str, int, Tensor, int]]:
    """(modality, column, tokens (..., n), vocab) for every token column, in block order."""
    heads = agent.world_model.obs_heads
    for name in heads.heads:
        vocabs = heads.vocabs[name]
        for f, vocab in enumerate(vocabs):
            yield name, f, (tokens[name] if len(vocabs) == 1 else tokens[name][..., f]), vocab


class Baselines:
    """The marginal and copy-last predictors, fitted on the training episodes' tokens, rewards and ends."""

    def __init__(self, agent: Agent, episodes: list[Episode]) -> None:
        self.agent = agent
        self.hl_gauss = agent.world_model.reward_head.hl_gauss
        tokens = [agent.tokenizer.tokenize(agent.obs_to_tensors(e.observations)) for e in episodes]  # {n: (N+1, ...)}
        counts: dict[tuple[str, int], Tensor] = {}
        for t in tokens:
            for name, f, x, vocab in columns(agent, t):  # x (N+1, n)
                n = x.shape[-1]
                c = torch.bincount((x + torch.arange(n) * vocab).reshape(-1), minlength=n * vocab).view(n, vocab)
                counts[name, f] = counts.get((name, f), 0) + c
        # (n, vocab) log-probabilities of each token position, add-one smoothed
        self.log_marginal = {k: torch.log((c + 1.0) / (c + 1.0).sum(-1, keepdim=True)) for k, c in counts.items()}
        steps = [(e.rewards[:-1], e.ends[:-1]) for e in episodes]  # row t's reward and end, t < N
        rewards = torch.cat([r for r, _ in steps]).to(agent.device)
        self.reward_marginal = self.hl_gauss.targets(symlog(rewards)).mean(0).clamp_min(1e-8)  # (bins,)
        self.end_rate = float(torch.cat([d for _, d in steps]).float().mean().clamp(1e-6, 1 - 1e-6))
        self.token_epsilon = self._fit(lambda eps: sum(self.copy_ce(t, eps)[0].sum() for t in tokens))
        self.reward_epsilon = self._fit(lambda eps: sum(self.reward_copy_ce(r[None], eps).sum() for r, _ in steps))

    @staticmethod
    def _fit(total_ce) -> float:
        return min(COPY_EPSILONS, key=lambda eps: float(total_ce(eps)))

    def _per_token(self, parts: list[tuple[str, Tensor]]) -> Tensor:
        """Per-column values [(modality, (..., n))] → per-token (..., K): a token_2d cell sums its columns."""
        merged: dict[str, Tensor] = {}
        for name, v in parts:
            merged[name] = merged[name] + v if name in merged else v
        return torch.cat(list(merged.values()), dim=-1)

    def marginal_ce(self, tokens: dict[str, Tensor]) -> Tensor:
        """tokens {name: (..., n[, F])} → CE per token (..., K)."""
        return self._per_token([(name, -self.log_marginal[name, f][torch.arange(x.shape[-1]), x])
                                for name, f, x, _ in columns(self.agent, tokens)])

    def copy_ce(self, tokens: dict[str, Tensor], eps: float | None = None) -> tuple[Tensor, Tensor]:
        """Step t predicted from step t − 1 along dim 0 of tokens {name: (L, ...)} or dim 1 of (B, L, ...):
        (CE per token (..., L − 1, K), per-column hits (..., L − 1, columns))."""
        eps = self.token_epsilon if eps is None else eps
        ce, hits = [], []
        for name, f, x, _ in columns(self.agent, tokens):
            prev, target = x[..., :-1, :], x[..., 1:, :]
            marginal = self.log_marginal[name, f][torch.arange(x.shape[-1]), target].exp()
            ce.append((name, -torch.log((1 - eps) * (prev == target) + eps * marginal)))
            hits.append((prev == target).float())
        return self._per_token(ce), torch.cat(hits, dim=-1)

    def reward_copy_ce(self, rewards: Tensor, eps: float | None = None) -> Tensor:
        """rewards (B, S) → CE (B, S) of predicting r_s from r_{s−1} (the marginal at s = 0)."""
        eps = self.reward_epsilon if eps is None else eps
        q = self.hl_gauss.targets(symlog(rewards))  # (B, S, bins)
        prev = torch.cat([self.reward_marginal.expand_as(q[:, :1]), (1 - eps) * q[:, :-1] + eps * self.reward_marginal],
                         dim=1)
        return -(q * prev.log()).sum(-1)


@torch.no_grad()
def heldout_losses(agent: Agent, baselines: Baselines, episodes: list[Episode], batch_size: int = 32) -> dict:
    """The three predictors' obs CE (overall and per modality), obs accuracy, reward CE and end CE on the windows
    of `episodes` (see the module docstring)."""
    agent.eval()
    wm = agent.world_model
    store = ReplayStore(None)
    for episode in episodes:
        store.add(episode)
    length, ctx = wm.cfg.retnet.max_blocks, wm.cfg.context_length
    keys = eval_windows(store, length, ctx)
    sums: dict[str, Tensor | float] = {}

    def add(key: str, value: Tensor) -> None:
        sums[key] = sums.get(key, 0.0) + value.double().sum(0)

    for i in range(0, len(keys), batch_size):
        batch = batch_to(store.collate(keys[i : i + batch_size], length, "right"), agent.device)
        tokens = agent.tokenizer.tokenize(batch["obs"])  # {name: (B, L, ...)}
        pred = wm(tokens, batch["actions"], agent.codebook)
        valid = batch["mask_padding"].bool()  # (B, L)
        obs_mask = (valid & (torch.arange(length, device=valid.device) >= ctx))[:, 1:].reshape(-1)  # targets, L − 1
        per_token = {"world_model": wm.obs_heads.cross_entropy(pred.obs, tokens)[:, 1:],
                     "marginal": baselines.marginal_ce(tokens)[:, 1:]}
        per_token["copy_last"], copy_hits = baselines.copy_ce(tokens)
        for name, ce in per_token.items():
            add(f"obs_ce/{name}", ce.reshape(-1, wm.K)[obs_mask])  # (targets, K)
        wm_hits, marginal_hits = [], []
        for name, f, x, vocab in columns(agent, tokens):
            logits = split_columns(pred.obs[name], wm.obs_heads.vocabs[name])[f]
            wm_hits.append((logits.argmax(-1) == x).float()[:, 1:])
            marginal_hits.append((baselines.log_marginal[name, f].argmax(-1) == x).float()[:, 1:])
        for name, hits in (("world_model", torch.cat(wm_hits, -1)), ("marginal", torch.cat(marginal_hits, -1)),
                           ("copy_last", copy_hits)):
            add(f"obs_accuracy/{name}", hits.reshape(-1, hits.shape[-1])[obs_mask])
        sums["obs_targets"] = sums.get("obs_targets", 0) + int(obs_mask.sum())
        step_mask = (valid[:, :-1] & valid[:, 1:]).reshape(-1)  # (B·(L − 1),)
        rewards, ends = batch["rewards"][:, :-1], batch["ends"][:, :-1].float()
        reward_ce = {"world_model": wm.reward_head.loss(pred.reward[:, 1:], rewards),
                     "marginal": -(wm.reward_head.hl_gauss.targets(symlog(rewards))
                                   * baselines.reward_marginal.log()).sum(-1),
                     "copy_last": baselines.reward_copy_ce(rewards),
                     "target_entropy": entropy(wm.reward_head.hl_gauss.targets(symlog(rewards)))}
        for name, ce in reward_ce.items():
            add(f"reward_ce/{name}", ce.reshape(-1)[step_mask])
        p = baselines.end_rate
        end_ce = {"world_model": F.cross_entropy(pred.done[:, 1:].transpose(1, 2), ends.long(), reduction="none"),
                  "marginal": -(ends * torch.log(torch.tensor(p)) + (1 - ends) * torch.log(torch.tensor(1 - p)))}
        for name, ce in end_ce.items():
            add(f"end_ce/{name}", ce.reshape(-1)[step_mask])
        sums["step_targets"] = sums.get("step_targets", 0) + int(step_mask.sum())
    return summarise(agent, sums)


def summarise(agent: Agent, sums: dict) -> dict:
    n_obs, n_steps = max(sums.pop("obs_targets"), 1), max(sums.pop("step_targets"), 1)
    slices = agent.world_model.obs_heads.slices
    out: dict[str, dict] = {"obs_ce": {}, "obs_ce_by_modality": {}, "obs_accuracy": {}, "reward_ce": {},
                            "end_ce": {}}
    for key, total in sums.items():
        kind, predictor = key.split("/")
        if kind == "obs_ce":
            out["obs_ce"][predictor] = float(total.sum() / (n_obs * agent.world_model.K))
            out["obs_ce_by_modality"][predictor] = {m: float(total[s].sum() / (n_obs * (s.stop - s.start)))
                                                    for m, s in slices.items()}
        elif kind == "obs_accuracy":
            out["obs_accuracy"][predictor] = float(total.sum() / (n_obs * total.numel()))
        else:
            out[kind][predictor] = float(total / n_steps)
    out["targets"] = {"observations": n_obs, "steps": n_steps}
    return out
