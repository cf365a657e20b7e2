"""The epoch schedule and the evaluation seeds (design §3.1, §6.2, §7.1): each benchmark's paper config walked
from epoch 1 to the last and its final evaluation, without training — component starts, collection stop,
evaluations, checkpoints, step counts and every seed, checked against the numbers the spec states."""

from dataclasses import dataclass, field

import numpy as np
import pytest
import torch

from m3.agent import Agent
from m3.config import compose_config, load_config
from m3.data import EpisodeBuilder
from m3.envs import EnvConfig, env_spec, make_env
from m3.envs.parallel import ParallelEnvs
from m3.envs.seeding import SEED_LIMIT, derive_seed
from m3.envs.spec import ActionSpec
from m3.evaluation import episodes_played, play_episodes
from m3.media import MAX_EPISODES, MediaDir, list_episodes, save_episode
from m3.schedule import epoch_plan, eval_env_seeds, evaluation_seeds

TOKENIZER_TRAINABLE = {"atari": True, "dmc": False, "craftax": False, "cartpole": False}  # image envs only (§4.1)
RUN_SEEDS = range(5)  # the workflow's seeds per task


def paper(benchmark: str, seed: int = 0):
    return compose_config([f"benchmark={benchmark}", "run_dir=/tmp/unused", f"seed={seed}"])


@dataclass
class Walk:
    """What the trainer does over a whole run: first epochs, counts, and every env seed it uses."""

    first: dict[str, int] = field(default_factory=dict)  # component → first epoch it trains
    updates: dict[str, int] = field(default_factory=dict)
    collected: list[int] = field(default_factory=list)  # epochs with collection
    env_steps_before: dict[str, int] = field(default_factory=dict)  # component → steps collected before its start
    evaluations: list[int] = field(default_factory=list)
    checkpoints: list[int] = field(default_factory=list)
    env_steps: int = 0
    seeds: dict[str, list[int]] = field(default_factory=dict)  # "epoch <e>" / "final" / "train" / "workers"


def walk(cfg) -> Walk:
    w, t = Walk(), cfg.training
    steps = {"tokenizer": t.tokenizer.steps_per_epoch, "world_model": t.world_model.steps_per_epoch,
             "critic": t.actor_critic.steps_per_epoch, "actor": t.actor_critic.steps_per_epoch}
    n = cfg.collection.test.num_envs
    for epoch in range(1, cfg.epochs + 1):
        plan = epoch_plan(cfg, epoch, TOKENIZER_TRAINABLE[cfg.benchmark])
        if plan.collect:
            w.collected.append(epoch)
        on = {"tokenizer": plan.tokenizer, "world_model": plan.world_model, "critic": plan.actor_critic,
              "actor": plan.actor}
        for name, trains in on.items():
            if trains:
                w.first.setdefault(name, epoch)
                w.env_steps_before.setdefault(name, w.env_steps)
                w.updates[name] = w.updates.get(name, 0) + steps[name]
        w.env_steps += cfg.collection.train.num_steps if plan.collect else 0
        if plan.evaluate:
            w.evaluations.append(epoch)
            seed = evaluation_seeds(cfg, epoch)
            w.seeds[f"epoch {epoch}"] = [seed(j) for j in range(episodes_played(cfg.collection.test.num_episodes, n))]
        if plan.checkpoint:
            w.checkpoints.append(epoch)
    final = evaluation_seeds(cfg, None)
    w.seeds["final"] = [final(j) for j in range(episodes_played(cfg.collection.test.num_episodes_end, n))]
    w.seeds["train"] = [derive_seed(cfg.seed, "train", 0)]
    w.seeds["workers"] = eval_env_seeds(cfg.seed, n)
    return w


@pytest.fixture(scope="module")
def walks() -> dict[tuple[str, int], Walk]:
    return {(b, s): walk(paper(b, s)) for b in ("atari", "dmc", "craftax") for s in RUN_SEEDS}


def episode_seeds(w: Walk) -> list[int]:
    return [s for key, seeds in w.seeds.items() if key.startswith("epoch") or key == "final" for s in seeds]


# ---------------------------------------------------------------- the schedule of §3.1
def test_atari_schedule(walks):
    w = walks["atari", 0]
    assert w.first == {"tokenizer": 6, "world_model": 26, "critic": 51, "actor": 51}
    assert w.env_steps_before == {"tokenizer": 1_000, "world_model": 5_000, "critic": 10_000, "actor": 10_000}
    assert w.collected == list(range(1, 501)) and w.env_steps == 100_000  # collection stops after epoch 500,
    # training goes on to epoch 600: the total updates of §3.1
    assert w.updates == {"tokenizer": 119_000, "world_model": 115_000, "critic": 44_000, "actor": 44_000}
    assert w.evaluations == list(range(20, 601, 20)) and w.checkpoints == w.evaluations


def test_dmc_schedule_starts_the_actor_at_epoch_25(walks):
    w = walks["dmc", 0]
    assert w.first == {"world_model": 16, "critic": 21, "actor": 25}  # actor zeroed while epoch < 20 + 5 (§6.2)
    assert w.env_steps_before == {"world_model": 7_500, "critic": 10_000, "actor": 12_000}
    assert w.collected == list(range(1, 1001)) and w.env_steps == 500_000
    assert w.updates["world_model"] == 985 * 300 and w.updates["critic"] == 980 * 100
    assert w.evaluations == list(range(10, 1001, 10)) and w.checkpoints == w.evaluations


def test_craftax_schedule(walks):
    w = walks["craftax", 0]
    assert w.first == {"world_model": 251, "critic": 301, "actor": 301}
    assert w.env_steps_before == {"world_model": 25_000, "critic": 30_000, "actor": 30_000}
    assert w.collected == list(range(1, 10_001)) and w.env_steps == 1_000_000
    assert w.evaluations == list(range(200, 10_001, 200)) and w.checkpoints == w.evaluations


def test_cartpole_warmup_and_a_last_epoch_off_the_evaluation_period():
    cfg = compose_config(["benchmark=cartpole", "run_dir=/tmp/unused", "epochs=12"])
    w = walk(cfg)
    assert w.first == {"world_model": 3, "critic": 4, "actor": 5}  # start 3, critic_warmup_epochs 2
    assert w.evaluations == [5, 10] and w.checkpoints == [5, 10, 12]  # the last epoch is always checkpointed


def test_epochs_outside_the_run_are_refused():
    cfg = paper("atari")
    for epoch in (0, 601):
        with pytest.raises(ValueError, match=f"epoch {epoch} is outside the run's epochs 1..600"):
            epoch_plan(cfg, epoch, True)


def test_episode_files_of_a_whole_craftax_run_keep_the_newest(walks, tmp_path):
    """Epoch numbers and episode ids grow to 10,000 and ~10⁶ over a Craftax run; the media folder keeps the
    episodes of the last evaluations (compared as numbers, not as text)."""
    w, media = walks["craftax", 0], MediaDir(tmp_path / "media")
    media.create()
    for epoch in w.evaluations:
        builder = EpisodeBuilder(epoch * 100, ActionSpec("discrete", 43))  # the id grows with the env steps
        builder.start({"vector": np.zeros(1, np.float32)})
        builder.step(0, 0.0, False, {"vector": np.zeros(1, np.float32)})
        save_episode(media, "train", builder.episode(), epoch, "craftax", "Craftax-Symbolic-v1")
    kept = [p.name for p in list_episodes(media.root / "episodes")[1:]]
    assert kept == [f"episode_{e * 100}_epoch_{e}.pt" for e in w.evaluations[-MAX_EPISODES:]]
    assert kept[-1] == "episode_1000000_epoch_10000.pt"


# ---------------------------------------------------------------- seeds over whole runs
@pytest.mark.parametrize("benchmark, evaluations, final", [("atari", 30, 104), ("dmc", 100, 504),
                                                           ("craftax", 50, 104)])
def test_every_seed_of_a_run_is_in_range_and_no_two_episodes_share_one(walks, benchmark, evaluations, final):
    for seed in RUN_SEEDS:
        w = walks[benchmark, seed]
        assert len(w.evaluations) == evaluations and len(w.seeds["final"]) == final  # 8 envs: counts round up
        everything = [s for seeds in w.seeds.values() for s in seeds]
        assert all(isinstance(s, int) and 0 <= s < SEED_LIMIT for s in everything)
        episodes = episode_seeds(w)
        assert len(set(episodes)) == len(episodes)  # periodic and final evaluations share no episode seed


@pytest.mark.parametrize("benchmark", ["atari", "dmc", "craftax"])
def test_runs_with_adjacent_seeds_share_no_test_episode_seed(walks, benchmark):
    for seed in RUN_SEEDS[:-1]:
        a, b = set(episode_seeds(walks[benchmark, seed])), set(episode_seeds(walks[benchmark, seed + 1]))
        assert not a & b
    every_run = [s for seed in RUN_SEEDS for s in episode_seeds(walks[benchmark, seed])]
    assert len(set(every_run)) == len(every_run)  # no two of the five runs either


def test_standalone_evaluation_seeds_differ_from_the_training_ones(walks):
    """`python -m m3.evaluate seed=k` (DMC protocol: 500 episodes) replays none of the run's own test episodes."""
    trained = set(episode_seeds(walks["dmc", 0]))
    standalone = {derive_seed(0, "evaluate", k, j) for k in range(3) for j in range(500)}
    assert len(standalone) == 1500 and not standalone & trained


@pytest.mark.parametrize("benchmark, game", [("atari", "Breakout"), ("dmc", "walker-run"),
                                             ("cartpole", "CartPole-v1")])
def test_every_env_type_takes_the_largest_seeds_of_the_schedules(walks, benchmark, game):
    largest = max(s for w in walks.values() for seeds in w.seeds.values() for s in seeds)
    assert largest > 2**31  # the top bit is used: the seeds cover the whole 32-bit range
    for mode in ("train", "test"):
        env = make_env(benchmark, EnvConfig(game), mode, largest)
        env.reset(seed=largest)
        env.close()


@pytest.mark.slow
def test_craftax_takes_the_largest_seeds_of_the_schedules(walks):
    largest = max(s for w in walks.values() for seeds in w.seeds.values() for s in seeds)
    env = make_env("craftax", EnvConfig("Craftax-Symbolic-v1"), "test", largest)
    obs, _ = env.reset(seed=largest)
    assert obs["token_2d"].shape == (99, 4)


@pytest.mark.slow
def test_a_dmc_evaluation_at_epoch_1000_runs_through_the_parallel_path(tmp_path):
    """The seeds of the last periodic evaluation of a paper DMC run (epoch 1000, where the old `seed +
    10,000 * (1 + env steps)` passed 2**32 and the workers died) on real worker processes."""
    cfg = paper("dmc", seed=4)
    seeds = evaluation_seeds(cfg, 1000)
    small = load_config(["benchmark=dmc", "env.game=cartpole-balance", "scale=smoke", f"run_dir={tmp_path}"])
    torch.manual_seed(0)
    agent = Agent(small, env_spec("dmc", EnvConfig("cartpole-balance")))
    with ParallelEnvs("dmc", EnvConfig("cartpole-balance"), eval_env_seeds(cfg.seed, 2)) as envs:
        results = play_episodes(agent, envs, 2, 0.5, seeds, torch.Generator().manual_seed(0), record=2)
    assert [r.length for r in results] == [500, 500]
    reference = make_env("dmc", EnvConfig("cartpole-balance"), "test", 0)
    for j, result in enumerate(results):
        first, _ = reference.reset(seed=seeds(j))
        np.testing.assert_array_equal(result.episode.observations["vector"][0].numpy(), first["vector"])
