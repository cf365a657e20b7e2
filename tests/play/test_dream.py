"""The dream (design §5.3, §8.6): seeded from real observations, flushed every H − c steps, never past block
H − 1."""

import numpy as np
import pytest
import torch

from m3.agent import Agent
from m3.config import load_config
from m3.envs import registry
from m3.play.dream import Dream


def tiny_agent(benchmark: str, game: str, tmp_path) -> tuple[Agent, object]:
    cfg = load_config([f"benchmark={benchmark}", "scale=smoke", f"env.game={game}", f"run_dir={tmp_path}"])
    torch.manual_seed(0)
    agent = Agent(cfg, registry.env_spec(benchmark, cfg.env)).eval()
    return agent, registry.make_env(benchmark, cfg.env, "test", seed=0)


def seed_observations(env, c: int) -> tuple[list, list]:
    observations, actions = [env.reset()[0]], []
    for _ in range(c - 1):
        actions.append(env.action_space.sample())
        observations.append(env.step(actions[-1])[0])
    return observations, actions


@pytest.mark.parametrize("benchmark,game", [("atari", "Breakout"), ("cartpole", "CartPole-v1"),
                                            ("dmc", "cheetah-run")])
def test_flush_every_h_minus_c_steps_and_never_past_the_training_length(benchmark, game, tmp_path):
    agent, env = tiny_agent(benchmark, game, tmp_path)
    dream = Dream(agent)
    H, c, T = agent.world_model.cfg.retnet.max_blocks, agent.world_model.cfg.context_length, agent.spec.tokens_per_block
    assert dream.period == H - c >= 1
    tokens = dream.reset(*seed_observations(env, c))
    assert set(tokens) == set(agent.spec.observations)
    flushed = []
    for step in range(1, 2 * (H - c) + 2):
        out = dream.step(env.action_space.sample())
        flushed.append(out.flushed)
        # the prediction tokens of the next block sit at the state's position: at most block H − 1
        assert dream.state.position <= (H - 1) * T
        for name, shape in agent.spec.observations.items():
            expected = (1, 64) if name == "image" else (1, *shape.shape)
            assert tuple(out.tokens[name].shape) == expected
    assert [i + 1 for i, f in enumerate(flushed) if f] == [H - c + 1, 2 * (H - c) + 1]


def test_reseeding_is_imagine_reset_from_the_last_c_observations(tmp_path):
    agent, env = tiny_agent("atari", "Breakout", tmp_path)
    dream, wm = Dream(agent), agent.world_model
    c = wm.cfg.context_length
    assert c == 2
    dream.reset(*seed_observations(env, c))
    tokens, actions = [], []
    for _ in range(dream.period):
        actions.append(int(env.action_space.sample()))
        tokens.append(dream.step(actions[-1]).tokens)
    rng = torch.get_rng_state()
    out = dream.step(1)
    assert out.flushed
    # independently: the context is the last c = 2 observations (both imagined) and the action between them
    context = {name: torch.stack([tokens[-2][name], tokens[-1][name]], dim=1) for name in tokens[-1]}
    state = wm.imagine_reset(context, torch.tensor([[actions[-1]]]), agent.codebook)
    torch.set_rng_state(rng)
    expected = wm.imagine_step(state, torch.tensor([1]), agent.codebook)
    for name in expected.tokens:
        torch.testing.assert_close(out.tokens[name], expected.tokens[name], rtol=0, atol=0)
    assert out.reward == pytest.approx(float(expected.reward[0]), abs=1e-6)
    assert dream.state.position == 2 * agent.spec.tokens_per_block  # positions restarted at the first context block


def test_reset_needs_c_observations(tmp_path):
    agent, env = tiny_agent("atari", "Breakout", tmp_path)
    obs = env.reset()[0]
    with pytest.raises(ValueError, match="2 observations and 1 actions"):
        Dream(agent).reset([obs], [])
    np.testing.assert_array_equal(Dream(agent).action_tensor(3).numpy(), [3])
