"""The official reference data in tests/convert/data (see its README) and m3 agents built to match it."""

from __future__ import annotations

from pathlib import Path

import torch

from m3.agent import Agent
from m3.config import load_config
from m3.convert import convert, split_components
from m3.envs import registry

DATA = Path(__file__).parent / "data"
BENCHMARKS = ("atari", "dmc", "craftax")

# The reduced official builds (data/README.md) as m3 overrides. Atari's game is DemonAttack (6 actions).
# DMC keeps tokenizer.embed_dim 256: the official obs_emb_dim 256 ≠ d builds the unused obs_emb_map, as m3
# builds its unused image_proj; Craftax sets it to d = 64 as the official obs_emb_dim=64 does.
REDUCED = {
    "atari": ["env.game=DemonAttack", "world_model.retnet.num_layers=2", "world_model.retnet.embed_dim=64",
              "tokenizer.vocab_size=64", "tokenizer.embed_dim=64", "tokenizer.channels_first_layer=8",
              "tokenizer.norm_num_groups=4", "tokenizer.perceptual_loss=false",
              "actor_critic.obs_mlp_layer_sizes=[32]"],
    "dmc": ["world_model.retnet.num_layers=2", "world_model.retnet.embed_dim=48",
            "actor_critic.obs_mlp_layer_sizes=[24]"],
    "craftax": ["world_model.retnet.num_layers=2", "world_model.retnet.embed_dim=64", "world_model.retnet.max_blocks=7",
                "tokenizer.embed_dim=64", "actor_critic.obs_mlp_layer_sizes=[32,32]",
                "actor_critic.tokens_embed_dim=8"],
}


def load(name: str) -> dict:
    return torch.load(DATA / name, weights_only=True)


def reduced_config(benchmark: str, run_dir: str = "unused"):
    return load_config([f"benchmark={benchmark}", f"run_dir={run_dir}", *REDUCED[benchmark]])


def reduced_agent(benchmark: str) -> Agent:
    """The m3 agent of the reduced reference build in float64, eval mode, loaded through the converter."""
    cfg = reduced_config(benchmark)
    agent = Agent(cfg, registry.env_spec(benchmark, cfg.env)).double().eval()
    agent.load_state_dict(convert(split_components(load(f"{benchmark}_weights.pt"), benchmark), agent))
    return agent


def assert_matches(ours: torch.Tensor, theirs: torch.Tensor, what: str, rtol: float = 1e-10) -> None:
    """max |ours − theirs| ≤ rtol · max |theirs| (float64 on both sides)."""
    assert ours.dtype == theirs.dtype == torch.float64, f"{what}: {ours.dtype} vs {theirs.dtype}"
    assert ours.shape == theirs.shape, f"{what}: shape {tuple(ours.shape)} vs official {tuple(theirs.shape)}"
    err = (ours - theirs).abs().max().item() / max(theirs.abs().max().item(), 1e-300)
    assert err <= rtol, f"{what}: relative error {err:.3e} > {rtol:.0e}"
