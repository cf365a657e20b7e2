"""The epoch loop of design §7.1: collect → tokenizer → world model → actor-critic → evaluate → checkpoint.

Components train one after the other with their own AdamW optimisers and start epochs; each
component's loss sees the others in eval mode. Everything a resumed run needs — weights, optimisers,
the replay on disk, priorities, the return scaler, RNG states, the collector — is checkpointed every
`evaluation.every` epochs, at the end of an epoch once `checkpoint.every_minutes` have passed since the last
one, and when SIGTERM/SIGINT asks the run to stop, so rerunning with the same run folder continues where the
last checkpoint left off and a finished run (`done`) is not run again (design §7.3).

A stop request only sets a flag; it is honoured at the next safe point — after collection, after any
component step, or at the end of the epoch — by a checkpoint that records the position inside the epoch
(`progress`), so the resumed run repeats no completed step and ends bit-identical to an uninterrupted one.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import nn
from tqdm import tqdm

from m3.agent import Agent
from m3.checkpoint import CheckpointError, RunDir
from m3.collector import Collector
from m3.config import M3Config, to_dict
from m3.data import PrioritizedSampler, ReplayStore, sample_uniform
from m3.envs import registry
from m3.envs.parallel import ParallelEnvs
from m3.envs.seeding import derive_seed
from m3.data.replay import ReplayFileError
from m3.evaluation import episode_metrics, eval_losses, play_episodes
from m3.faults import reached
from m3.media import MediaDir, save_episode, save_reconstructions
from m3.metrics import MetricsLogger, cut_metrics
from m3.rl.returns import ReturnScaler
from m3.rng import rng_state, seed_everything, set_rng_state
from m3.schedule import epoch_plan, eval_env_seeds, evaluation_seeds
from m3.speed import compile_agent
from m3.stopping import StopFlag, StopRequested
from m3.token_cache import TokenCache
from m3.updates import NonFiniteLossError, actor_critic_step, build_optimizers, tokenizer_step, world_model_step
from m3.version import code_version
from m3.weights import save_weights


@dataclass(frozen=True)
class Phase:
    """One component's part of an epoch: `steps` calls of its update `step` when `on` (design §7.1)."""

    name: str
    on: bool
    steps: int
    step: Callable[[int], dict[str, Any]]
    module: nn.Module


def _new_progress(epoch: int) -> dict[str, Any]:
    """Position inside an epoch: phase 0 collect, 1-3 the components; `step` done in the current component."""
    return {"epoch": epoch, "phase": 0, "step": 0, "record": {}, "sums": {}, "grad_norms": [], "elapsed": 0.0}


class Trainer:
    def __init__(self, cfg: M3Config, run: RunDir) -> None:
        self.cfg, self.run = cfg, run
        seed_everything(cfg.seed)
        torch.set_float32_matmul_precision(cfg.float32_matmul_precision)
        self.device = torch.device(cfg.device)
        self.spec = registry.env_spec(cfg.benchmark, cfg.env)
        self.agent = Agent(cfg, self.spec).to(self.device)
        if cfg.speed.compile:
            compile_agent(self.agent)
        t = cfg.training
        self.optimizers = build_optimizers(self.agent, t)
        self.store = ReplayStore(run.dataset, max_ram_bytes=int(cfg.replay.max_ram_gb * 2**30))
        self.sampler = PrioritizedSampler(uniform_fraction=t.world_model.uniform_fraction)
        self.scaler = ReturnScaler(cfg.imagination.return_buffer_size)
        self.generator = torch.Generator().manual_seed(cfg.seed)
        # tokens of replay rows while the tokenizer is frozen (image envs: the only tokenizer with parameters)
        self.tokens = TokenCache(self.agent.tokenizer, self.store) if self.agent.tokenizer.trainable else None
        env = registry.make_env(cfg.benchmark, cfg.env, mode="train", seed=derive_seed(cfg.seed, "train", 0))
        self.collector = Collector(env, self.store, self.agent, cfg.imagination.burn_in, cfg.seed)
        self.media = MediaDir(run.media)
        self.media.create()
        self.test_envs: ParallelEnvs | None = None  # started at the first evaluation, closed by finish()
        self.start_epoch, self.best_eval, self.epoch_of_best = 1, -math.inf, 0
        self.progress: dict[str, Any] | None = None  # where a stopped epoch resumes
        self.stop = StopFlag()
        self.last_checkpoint = time.monotonic()
        if run.has_checkpoint():
            self._restore()
        cut_metrics(run.root, self.start_epoch - 1)  # records after the checkpoint are written again
        self.logger = MetricsLogger(run.root, cfg.wandb.mode, cfg.wandb.project,
                                    run_name=f"{cfg.benchmark}-{cfg.env.game}-seed{cfg.seed}", config=to_dict(cfg))

    # ---------------------------------------------------------------- state
    def _restore(self) -> None:
        state = self.run.load(self.device)
        try:
            self.agent.load_state_dict(state["agent"])
            for name, opt in self.optimizers.items():
                opt.load_state_dict(state["optimizers"][f"optimizer_{name}"])
        except (RuntimeError, KeyError, ValueError) as e:
            raise CheckpointError(f"the checkpoint in {self.run.checkpoints} does not fit this config's agent "
                                  f"({str(e).splitlines()[0]}); it belongs to another run: use that run's config, "
                                  "or another run_dir") from e
        trainer = state["trainer"]
        try:
            self.store.load(manifest=trainer["replay_manifest"])
        except ReplayFileError as e:
            raise CheckpointError(str(e)) from e
        self.sampler.load_state_dict(trainer["sampler"])
        self.scaler.load_state_dict(trainer["return_scaler"])
        self.collector.load_state_dict(trainer["collector"])
        self.generator.set_state(trainer["generator"])
        set_rng_state(trainer["rng"])
        meta = state["metadata"]
        self.start_epoch = meta["epoch"] + 1
        self.best_eval, self.epoch_of_best = meta["best_eval_score"], meta["epoch_of_best_score"]
        self.progress = meta.get("progress")

    def _checkpoint(self, epoch: int, best: bool, progress: dict[str, Any] | None = None) -> None:
        """Commit a checkpoint of `epoch` (completed), or of the position `progress` inside the next one."""
        self.store.save(keep_evicted=True)  # the previous commit may still list the evicted episodes
        trainer = {"replay_manifest": self.store.manifest(), "sampler": self.sampler.state_dict(),
                   "return_scaler": self.scaler.state_dict(), "collector": self.collector.state_dict(),
                   "generator": self.generator.get_state(), "rng": rng_state()}
        self.run.save(agent=self.agent.state_dict(),
                      optimizers={f"optimizer_{k}": o.state_dict() for k, o in self.optimizers.items()},
                      trainer=trainer,
                      metadata={"epoch": epoch, "best_eval_score": self.best_eval,
                                "epoch_of_best_score": self.epoch_of_best, "progress": progress},
                      best=best)
        self.store.save()  # committed: the evicted episodes' files can go
        self.last_checkpoint = time.monotonic()

    def _stop_point(self, progress: dict[str, Any], start: float) -> None:
        """A safe point: when a stop was requested, checkpoint the position and raise StopRequested."""
        if not self.stop.raised:
            return
        progress["elapsed"] = time.time() - start
        self._checkpoint(progress["epoch"] - 1, best=False, progress=progress)
        raise StopRequested(self.stop.signum, progress["epoch"])

    # ---------------------------------------------------------------- updates
    def _train_tokenizer(self, epoch: int) -> dict[str, Any]:
        return tokenizer_step(self.agent, self.store, self.optimizers["tokenizer"], self.cfg.training.tokenizer,
                              self.generator, self.tokens, self.cfg.speed.bf16)

    def _train_world_model(self, epoch: int) -> dict[str, Any]:
        return world_model_step(self.agent, self.store, self.sampler, self.optimizers["world_model"],
                                self.cfg.training.world_model, self.cfg.world_model.retnet.max_blocks, self.generator,
                                self.tokens, self.cfg.speed.bf16)

    def _train_actor_critic(self, epoch: int) -> dict[str, Any]:
        train_actor = epoch_plan(self.cfg, epoch, self.agent.tokenizer.trainable).actor
        return actor_critic_step(self.agent, self.store, self.optimizers["actor_critic"],
                                 self.cfg.training.actor_critic, self.cfg.imagination,
                                 self.cfg.world_model.context_length, self.scaler, train_actor, self.generator,
                                 self.tokens, self.cfg.speed.bf16)

    def _component(self, phase: Phase, progress: dict[str, Any], start: float, bar: tqdm) -> dict[str, float]:
        """The steps of one component, from `progress["step"]` on (a stopped epoch resumes mid-component)."""
        epoch, name, steps = progress["epoch"], phase.name, phase.steps
        self.agent.eval()
        phase.module.train()
        sums: dict[str, float] = progress["sums"]
        grad_norms: list[float] = progress["grad_norms"]
        while progress["step"] < steps:
            try:
                metrics = phase.step(epoch)
            except NonFiniteLossError as e:
                raise NonFiniteLossError(
                    f"{e} (epoch {epoch}); the run stops and keeps the last good checkpoint") from e
            grad_norms.append(float(metrics.pop("grad_norm")))
            for k, v in metrics.items():
                sums[k] = sums.get(k, 0.0) + float(v)
            progress["step"] += 1
            bar.update(1)
            bar.set_postfix({name: f"{float(metrics['total_loss']):.3f}"}, refresh=False)
            reached(f"{name}:step")
            if progress["step"] < steps:
                self._stop_point(progress, start)
        record = {f"{name}/train/{k}": v / steps for k, v in sums.items()}
        record |= {f"{name}/train/mean_grad_norm": sum(grad_norms) / steps,  # pre-clip norms (§7.4)
                   f"{name}/train/max_grad_norm": max(grad_norms), f"{name}/train/min_grad_norm": min(grad_norms)}
        return record

    # ---------------------------------------------------------------- evaluation
    def evaluate(self, num_episodes: int, prefix: str, epoch: int | None = None) -> dict[str, float]:
        """Test episodes on the parallel test envs (§7.1 step 5). With `epoch` (the periodic evaluations), the
        episodes form the test dataset: the tokenizer and world-model losses are computed on them and the first
        one is kept in media/episodes/test."""
        c = self.cfg.collection.test
        if self.test_envs is None:
            self.test_envs = ParallelEnvs(self.cfg.benchmark, self.cfg.env, eval_env_seeds(self.cfg.seed, c.num_envs))
        results = play_episodes(self.agent, self.test_envs, num_episodes, c.temperature,
                                evaluation_seeds(self.cfg, epoch), generator=self.generator,
                                record=num_episodes if epoch is not None else 0)
        metrics = episode_metrics(results, prefix)
        if epoch is not None:
            save_episode(self.media, "test", results[0].episode, epoch, self.cfg.benchmark, self.cfg.env.game)
            metrics |= eval_losses(self.agent, self.cfg, [r.episode for r in results if r.episode is not None])
        return metrics

    def _save_reconstructions(self, epoch: int, num_segments: int = 8, length: int = 4) -> None:
        """Originals above their reconstructions for a few stored segments (§7.1 step 5; image envs only). The
        segments are drawn with their own epoch-seeded generator, so training's random stream is untouched."""
        if self.agent.tokenizer.image is None:
            return
        ids = sample_uniform(self.store, num_segments, ctx=1, length=length,
                             generator=torch.Generator().manual_seed(epoch), padding="right")
        frames = self.store.collate(ids, length, "right")["obs"]["image"]  # (B, T, 3, 64, 64) uint8
        save_reconstructions(self.media, epoch, frames, self.agent.tokenizer.image)

    # ---------------------------------------------------------------- loop
    def run_epochs(self, stop_after: int | None = None) -> None:
        """Train from the start epoch through `cfg.epochs` (or through `stop_after`, for tests of resume).
        Raises StopRequested after the checkpoint that a SIGTERM/SIGINT asked for."""
        with self.stop.catching():
            for epoch in range(self.start_epoch, min(self.cfg.epochs, stop_after or self.cfg.epochs) + 1):
                self._epoch(epoch)

    def _epoch(self, epoch: int) -> None:
        cfg, t = self.cfg, self.cfg.training
        progress = self.progress or _new_progress(epoch)
        self.progress = None
        start = time.time() - progress["elapsed"]  # a resumed epoch counts its time before the stop
        record: dict[str, Any] = progress["record"]
        todo = epoch_plan(cfg, epoch, self.agent.tokenizer.trainable)
        collect = todo.collect
        phases = [
            Phase("tokenizer", todo.tokenizer, t.tokenizer.steps_per_epoch, self._train_tokenizer,
                  self.agent.tokenizer),
            Phase("world_model", todo.world_model, t.world_model.steps_per_epoch, self._train_world_model,
                  self.agent.world_model),
            Phase("actor_critic", todo.actor_critic, t.actor_critic.steps_per_epoch, self._train_actor_critic,
                  self.agent.actor_critic),
        ]
        total = (cfg.collection.train.num_steps if collect else 0) + sum(p.steps for p in phases if p.on)
        with tqdm(total=total, desc=f"epoch {epoch}/{cfg.epochs}", leave=False, dynamic_ncols=True) as bar:
            if collect and progress["phase"] == 0:
                c = cfg.collection.train
                record |= self.collector.collect(c.num_steps, c.temperature, c.epsilon, self.generator, bar)
                if self.collector.last_finished is not None:
                    save_episode(self.media, "train", self.collector.last_finished, epoch, cfg.benchmark,
                                 cfg.env.game)
                reached("collect")
            self.sampler.sync(self.store, ctx=cfg.world_model.context_length)
            for index, phase in enumerate(phases, start=1):  # progress["phase"]: 0 collect, 1-3 these
                if not phase.on or progress["phase"] > index:
                    continue
                if progress["phase"] < index:
                    progress.update(phase=index, step=0, sums={}, grad_norms=[])
                    self._stop_point(progress, start)
                record |= self._component(phase, progress, start, bar)
        best = False
        if todo.evaluate:
            record |= self.evaluate(cfg.collection.test.num_episodes, "test_dataset", epoch)
            self._save_reconstructions(epoch)
            if record["test_dataset/return"] > self.best_eval:
                self.best_eval, self.epoch_of_best, best = record["test_dataset/return"], epoch, True
            reached("evaluate")
        record["duration"] = time.time() - start
        self.logger.log(record, epoch)
        reached("metrics")
        tqdm.write(_summary(epoch, cfg.epochs, record))
        due = time.monotonic() - self.last_checkpoint >= cfg.checkpoint.every_minutes * 60
        if todo.checkpoint or due or self.stop.raised:
            self._checkpoint(epoch, best)
        if self.stop.raised:
            raise StopRequested(self.stop.signum, epoch)

    def finish(self) -> dict[str, float]:
        """The final evaluation of the last model (§7.1 step 7), then the `done` marker."""
        final = self.evaluate(self.cfg.collection.test.num_episodes_end, "final")
        self.test_envs.close()
        self.logger.log(final, self.cfg.epochs)
        self.logger.close()
        save_weights(self.run.root / "weights.pt", self.cfg, self.agent.state_dict(), self.cfg.epochs, code_version())
        self.run.mark_done(f"final return {final['final/return']:.3f}\n")
        return final


def _summary(epoch: int, epochs: int, record: dict[str, Any]) -> str:
    keys = ["train_dataset/return", "tokenizer/train/total_loss", "world_model/train/total_loss",
            "actor_critic/train/total_loss", "test_dataset/return"]
    parts = [f"{k.split('/')[0]}={record[k]:.3f}" if "loss" in k else f"{k}={record[k]:.1f}"
             for k in keys if k in record]
    return f"epoch {epoch}/{epochs} " + " ".join(parts) + f" ({record['duration']:.1f}s)"


__all__ = ["Phase", "Trainer", "NonFiniteLossError"]
