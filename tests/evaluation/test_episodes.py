"""Test episodes on parallel envs (design §7.1 step 5, §8.4): equal to an in-process reference of the protocol,
every episode cut at its first end, counts rounded up to a multiple of the env count, metrics averaged."""

import numpy as np
import pytest
import torch

from m3.agent import Agent
from m3.config import load_config
from m3.envs import EnvConfig, env_spec, make_env
from m3.envs.parallel import ParallelEnvs
from m3.evaluation import EpisodeResult, episode_metrics, play_episodes

CARTPOLE = EnvConfig("CartPole-v1")


@pytest.fixture(scope="module")
def agent(tmp_path_factory) -> Agent:
    cfg = load_config(["benchmark=cartpole", "scale=smoke", f"run_dir={tmp_path_factory.mktemp('run')}"])
    torch.manual_seed(0)
    return Agent(cfg, env_spec("cartpole", CARTPOLE))


@torch.no_grad()
def reference_protocol(agent, env_seeds, num_episodes, temperature, seed, generator):
    """The protocol written out with in-process envs: rounds of N episodes, env i of round r reset with
    seed + r * N + i (episode j's seed is seed + j), an env that ends resets (its obs still feeds the batch)
    and takes no further step."""
    envs = [make_env("cartpole", CARTPOLE, "test", s) for s in env_seeds]
    n, episodes = len(envs), []
    for r in range(-(-num_episodes // n)):
        obs = [env.reset(seed=seed + r * n + i)[0] for i, env in enumerate(envs)]
        done, returns, lengths = [False] * n, [0.0] * n, [0] * n
        state = agent.actor_critic.initial_state(n, agent.device)
        while not all(done):
            batch = {"vector": np.stack([o["vector"] for o in obs])}
            actions, state = agent.act(batch, state, temperature=temperature, generator=generator)
            for i in range(n):
                if done[i]:
                    continue
                obs[i], reward, terminated, truncated, _ = envs[i].step(int(actions[i]))
                returns[i] += reward
                lengths[i] += 1
                if terminated or truncated:
                    done[i] = True
                    obs[i], _ = envs[i].reset()
        episodes += list(zip(returns, lengths))
    return episodes


def test_parallel_protocol_equals_the_in_process_reference(agent):
    seeds = [100, 101, 102]
    expected = reference_protocol(agent, seeds, 5, 0.5, 40, torch.Generator().manual_seed(1))
    with ParallelEnvs("cartpole", CARTPOLE, seeds) as envs:
        results = play_episodes(agent, envs, 5, 0.5, lambda j: 40 + j, torch.Generator().manual_seed(1))
    assert len(results) == 6  # 5 episodes on 3 envs: two full rounds
    assert [(r.ret, r.length) for r in results] == expected  # the reference stops each env at its first end
    assert len({r.length for r in results}) > 1
    assert agent.training  # play_episodes restores the mode it found


def test_recorded_episodes_are_the_first_ones_whole(agent):
    seeds = [100, 101, 102]
    with ParallelEnvs("cartpole", CARTPOLE, seeds) as envs:
        results = play_episodes(agent, envs, 5, 0.5, lambda j: 40 + j, torch.Generator().manual_seed(1),
                                record=4)
    assert [r.episode is not None for r in results] == [True] * 4 + [False] * 2  # across the round boundary
    env = make_env("cartpole", CARTPOLE, "test", 0)
    for j, result in enumerate(results[:4]):
        episode = result.episode
        assert episode.id == j and len(episode) == result.length + 1  # N actions, N + 1 stored steps (§7.2)
        assert float(episode.rewards.sum()) == result.ret
        first, _ = env.reset(seed=40 + j)  # episode j starts from reset(seed=episode_seed(j))
        np.testing.assert_array_equal(episode.observations["vector"][0].numpy(), first["vector"])
        assert int(episode.ends[result.length - 1]) == 1  # CartPole falls (terminated) well before 500 steps


def test_nonpositive_episode_counts_are_rejected(agent):
    with ParallelEnvs("cartpole", CARTPOLE, [0]) as envs:
        with pytest.raises(ValueError, match="num_episodes must be positive, got 0"):
            play_episodes(agent, envs, 0, 0.5, lambda j: j)


def test_episode_metrics_average_returns_lengths_and_stats():
    results = [EpisodeResult(1.0, 10, {"achievements/collect_wood": 1.0}),
               EpisodeResult(3.0, 30, {"achievements/collect_wood": 0.0, "achievements/eat_cow": 1.0})]
    m = episode_metrics(results, "final")
    assert m == {"final/return": 2.0, "final/return_std": 1.0, "final/episode_length": 20.0, "final/#episodes": 2,
                 "final/achievements/collect_wood": 0.5, "final/achievements/eat_cow": 0.5}
