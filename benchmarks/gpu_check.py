"""The prepared device check (design §10, docs/performance.md): one JSON object on stdout, built to fit in
8 minutes on one H100/H200; `benchmarks/gpu_check.sh` runs it.

    python -m benchmarks.gpu_check [--device cuda|cpu] [--quick]

- "equivalence": the same agent and batch on the CPU and on `--device`: the tokenizer and world-model steps'
  losses and gradient norms (WM dropout off) and the actor-critic's burn-in, policy and value logits and the world
  model's imagination prediction (the deterministic parts of an actor-critic step), as relative differences;
- "steps": seconds per m3.updates step of each component at the paper batch sizes (Atari, paper scale), for each
  path: fp32 eager, bf16 autocast, compiled (speed.compile); with the peak device memory of each;
- "train": two epochs of the Atari paper config with a shortened schedule through `python -m m3.train`, with
  each epoch's duration and the full 600-epoch run projected from the epoch that trains every component.
`--quick` (CI, `--device cpu --quick`): smoke-scale models, batch 2, one timed step, no compiled path.
Fused retention kernels and CUDA graphs are not implemented (docs/performance.md).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import torch

from benchmarks.step_timer import random_episode
from m3.agent import Agent
from m3.config import compose_config
from m3.data import PrioritizedSampler, ReplayStore, batch_to, sample_uniform
from m3.envs import registry
from m3.metrics import read_metrics
from m3.rl.returns import ReturnScaler
from m3.speed import compile_agent
from m3.token_cache import TokenCache
from m3.updates import actor_critic_step, build_optimizers, tokenizer_step, world_model_step

PAPER_BATCH = {"tokenizer": 128, "world_model": 32, "actor_critic": 128}  # Atari (design §3)


class Setup:
    """An Atari agent, a replay of random episodes, the trainer's optimisers, sampler and token cache."""

    def __init__(self, scale: str, device: torch.device, batch: dict[str, int], overrides: list[str] = ()) -> None:
        self.cfg = compose_config(["benchmark=atari", f"scale={scale}", "run_dir=/tmp/unused",
                                   "tokenizer.perceptual_loss=false", *overrides,
                                   *(f"training.{k}.batch_size={b}" for k, b in batch.items())])
        torch.manual_seed(0)
        self.agent = Agent(self.cfg, registry.env_spec("atari", self.cfg.env)).to(device).eval()
        self.device = device
        g = torch.Generator().manual_seed(0)
        self.store = ReplayStore(None)
        for i in range(8):
            self.store.add(random_episode(self.agent.spec, i, 200, g))
        self.sampler = PrioritizedSampler(self.cfg.training.world_model.uniform_fraction)
        self.sampler.sync(self.store, ctx=self.cfg.world_model.context_length)
        self.cache = TokenCache(self.agent.tokenizer, self.store)
        self.optimizers = build_optimizers(self.agent, self.cfg.training)
        self.scaler = ReturnScaler(self.cfg.imagination.return_buffer_size)

    def step(self, component: str, seed: int, bf16: bool = False) -> dict[str, Any]:
        t, g = self.cfg.training, torch.Generator().manual_seed(seed)
        module = getattr(self.agent, component)
        module.train()
        try:
            if component == "tokenizer":
                return tokenizer_step(self.agent, self.store, self.optimizers["tokenizer"], t.tokenizer, g, None, bf16)
            if component == "world_model":
                return world_model_step(self.agent, self.store, self.sampler, self.optimizers["world_model"],
                                        t.world_model, self.cfg.world_model.retnet.max_blocks, g, self.cache, bf16)
            return actor_critic_step(self.agent, self.store, self.optimizers["actor_critic"], t.actor_critic,
                                     self.cfg.imagination, self.cfg.world_model.context_length, self.scaler, True, g,
                                     self.cache, bf16)
        finally:
            module.eval()


def _rel(a: torch.Tensor | float, b: torch.Tensor | float) -> float:
    a, b = torch.as_tensor(a, dtype=torch.float64).cpu(), torch.as_tensor(b, dtype=torch.float64).cpu()
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-12))


def equivalence(scale: str, device: torch.device) -> dict[str, float]:
    """Relative differences between the CPU and `device` for the same weights and batches."""
    batch = {"tokenizer": 8, "world_model": 4, "actor_critic": 4}
    cpu = Setup(scale, torch.device("cpu"), batch, ["world_model.retnet.dropout=0"])
    dev = Setup(scale, device, batch, ["world_model.retnet.dropout=0"])
    dev.agent.load_state_dict(cpu.agent.state_dict())
    out = {}
    for component in ("tokenizer", "world_model"):
        a, b = dev.step(component, 1), cpu.step(component, 1)
        out[f"{component}_loss"] = _rel(a["total_loss"], b["total_loss"])
        out[f"{component}_grad_norm"] = _rel(a["grad_norm"], b["grad_norm"])
    cfg, ctx = cpu.cfg, cpu.cfg.world_model.context_length
    length = cfg.imagination.burn_in + ctx
    ids = sample_uniform(cpu.store, 4, ctx=ctx + 1, length=length, generator=torch.Generator().manual_seed(2))
    results = []
    with torch.no_grad():
        for s in (cpu, dev):
            b = batch_to(s.store.collate(ids, length, "left"), s.device)
            tokens = s.agent.tokenizer.tokenize(b["obs"])
            codes = s.agent.tokenizer.codes(tokens)
            state = s.agent.actor_critic.burn_in({k: v[:, :-2] for k, v in codes.items()}, b["actions"][:, :-2],
                                                 b["mask_padding"][:, :-2])
            policy, value_logits, _ = s.agent.actor_critic.obs_logits({k: v[:, -2] for k, v in codes.items()}, state)
            wm = s.agent.world_model.imagine_reset({k: v[:, -1 - ctx : -1] for k, v in tokens.items()},
                                                  b["actions"][:, -1 - ctx : -2], s.agent.codebook)
            pred = s.agent.world_model.imagine_predict(wm, b["actions"][:, -2])[1]
            results.append((policy.logits, value_logits, pred.features, pred.reward))
    names = ("actor_critic_policy_logits", "actor_critic_value_logits", "world_model_imagined_features",
             "world_model_imagined_reward_logits")
    for name, on_cpu, on_device in zip(names, *results):
        out[name] = _rel(on_device, on_cpu)
    return out


def time_steps(scale: str, device: torch.device, batch: dict[str, int], steps: int, paths: list[str]) -> dict:
    """Seconds per step of each component on each path, with the peak device memory (CUDA only)."""
    out: dict[str, Any] = {}
    for path in paths:
        s = Setup(scale, device, batch)
        if path == "compiled":
            compile_agent(s.agent)
        for component in ("tokenizer", "world_model", "actor_critic"):
            if component != "tokenizer":  # the warm cache of the WM and AC phases
                for episode_id in s.store.episode_ids:
                    s.cache.tokens(batch_to(s.store.collate([(episode_id, 0)], 200, "right"), device))
            row = _timed(lambda: s.step(component, 3, bf16=path == "bf16"), steps, device)
            out[f"{path}/{component}"] = row | {"batch": batch[component]}
    return out


def _timed(fn: Callable[[], Any], steps: int, device: torch.device) -> dict[str, float]:
    cuda = device.type == "cuda"
    fn()  # warm-up (and compilation)
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(steps):
        fn()
    if cuda:
        torch.cuda.synchronize()
    row = {"step_s": (time.perf_counter() - start) / steps}
    if cuda:
        row["peak_gpu_gb"] = torch.cuda.max_memory_allocated() / 2**30
    return row


def train(scale: str, device: str, timeout: int) -> dict[str, Any]:
    """Two epochs through the entry point: every component trains from epoch 1 (replay: one epoch's collection),
    the actor-critic in epoch 2, no evaluation inside them. The process is stopped once both epochs are logged
    (the final evaluation's episodes can run to Atari's 108K-frame limit)."""
    with tempfile.TemporaryDirectory() as root:
        run_dir = Path(root) / "run"
        overrides = [f"run_dir={run_dir}", "benchmark=atari", f"scale={scale}", f"device={device}", "epochs=2",
                     "tokenizer.perceptual_loss=false", "training.tokenizer.start_after_epochs=0",
                     "training.world_model.start_after_epochs=0", "training.actor_critic.start_after_epochs=1",
                     "evaluation.every=100", "collection.train.stop_after_epochs=2", "collection.test.num_envs=2"]
        start = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "m3.train", *overrides], stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
        durations: list[float] = []
        while proc.poll() is None and len(durations) < 2 and time.perf_counter() - start < timeout:
            time.sleep(2)
            durations = [r["duration"] for r in read_metrics(run_dir) if "duration" in r]
        if proc.poll() is None:
            proc.kill()
        stderr = proc.communicate()[1]
        out: dict[str, Any] = {"epoch_s": durations, "wall_s": time.perf_counter() - start}
        if len(durations) < 2:
            return out | {"error": f"{len(durations)} of 2 epochs in {timeout} s", "stderr_tail": stderr[-2000:]}
    if scale == "paper":  # every later epoch trains all three components, as epoch 2 does (an upper bound)
        out["projected_atari_run_h"] = durations[-1] * 600 / 3600
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    p.add_argument("--quick", action="store_true", help="smoke-scale models, batch 2, one step, no compile (CI)")
    args = p.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda: torch sees no CUDA device (use --device cpu)")
    device = torch.device(args.device)
    scale = "smoke" if args.quick else "paper"
    batch = {k: 2 for k in PAPER_BATCH} if args.quick else PAPER_BATCH
    paths = ["fp32", "bf16"] if args.quick else ["fp32", "bf16", "compiled"]
    report: dict[str, Any] = {"device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
                              "torch": torch.__version__, "quick": args.quick, "scale": scale,
                              "fused_retention": "not implemented", "cuda_graphs": "not implemented"}
    sections: list[tuple[str, Callable[[], Any]]] = [
        ("equivalence", lambda: equivalence(scale, device)),
        ("steps", lambda: time_steps(scale, device, batch, 1 if args.quick else 3, paths)),
        ("train", lambda: train(scale, args.device, 900 if args.quick else 240)),  # a shared CI CPU is slow
    ]
    for name, fn in sections:  # one failing section does not lose the others
        start = time.perf_counter()
        try:
            report[name] = fn()
        except Exception as e:  # noqa: BLE001 - reported in the JSON, the check goes on
            report[name] = {"error": f"{type(e).__name__}: {e}"[:2000]}
        report[f"{name}_wall_s"] = time.perf_counter() - start
        print(json.dumps({"section": name, "wall_s": report[f"{name}_wall_s"]}), file=sys.stderr, flush=True)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
