"""The world model as an environment (design §5.3, §6.2, §8.6): reset, step, and the memory flush."""

import pytest
import torch

from m3.envs.spec import ActionSpec, EnvSpec, ModalitySpec
from m3.models.retnet import RetNetConfig
from m3.models.world_model import WorldModel, WorldModelConfig
from m3.models.world_model_env import WorldModelEnv

H = 5  # retnet.max_blocks


def make_model(action: ActionSpec, c: int) -> tuple[WorldModel, EnvSpec]:
    spec = EnvSpec({"vector": ModalitySpec((3,)), "token": ModalitySpec((2,), (4,))}, action)
    torch.manual_seed(0)
    retnet = RetNetConfig(num_layers=1, num_heads=2, embed_dim=16, blocks_per_chunk=2, max_blocks=H)
    return WorldModel(WorldModelConfig(retnet, context_length=c), spec).eval(), spec


def random_actions(spec: EnvSpec, shape: tuple[int, ...], g: torch.Generator) -> torch.Tensor:
    if spec.action.kind == "discrete":
        return torch.randint(spec.action.n, shape, generator=g)
    return torch.rand(*shape, spec.action.n, generator=g) * 2 - 1


def random_context(spec: EnvSpec, B: int, c: int, g: torch.Generator) -> tuple[dict, torch.Tensor]:
    tokens = {"vector": torch.randint(125, (B, c, 3), generator=g), "token": torch.randint(4, (B, c, 2), generator=g)}
    return tokens, random_actions(spec, (B, c - 1), g)


@pytest.mark.parametrize("action", [ActionSpec("discrete", 3), ActionSpec("continuous", 2)])
@pytest.mark.parametrize("c", [1, 2])
def test_flush_reseeds_from_the_last_c_observations_and_the_actions_between(action, c):
    wm, spec = make_model(action, c)
    B, T, period = 2, spec.tokens_per_block, H - c
    g = torch.Generator().manual_seed(1)
    env = WorldModelEnv(wm, flush_every=period)
    context, context_actions = random_context(spec, B, c, g)
    newest = env.reset(context, context_actions)
    assert all(torch.equal(newest[k], context[k][:, -1]) for k in context)
    observed = [{k: v[:, j] for k, v in context.items()} for j in range(c)]
    taken = [context_actions[:, j] for j in range(c - 1)]
    flushes = []
    for step in range(1, 2 * period + 2):
        actions = random_actions(spec, (B,), g)
        rng = torch.get_rng_state()
        out = env.step(actions)
        flushes.append(out.flushed)
        if out.flushed:  # independently: a fresh reset from the last c observations and the c − 1 actions between
            ref_tokens = {k: torch.stack([o[k] for o in observed[-c:]], dim=1) for k in context}
            ref_actions = torch.stack(taken[len(taken) - (c - 1):], dim=1) if c > 1 else context_actions[:, :0]
            torch.set_rng_state(rng)
            want = wm.imagine_step(wm.imagine_reset(ref_tokens, ref_actions), actions)
            assert all(torch.equal(out.tokens[k], want.tokens[k]) for k in want.tokens)
            assert torch.equal(out.reward, want.reward) and torch.equal(out.done, want.done)
            assert torch.equal(out.intrinsic, want.intrinsic)
        assert env.state.position <= (H - 1) * T  # the next prediction never goes past block H − 1
        assert out.reward.shape == out.done.shape == out.intrinsic.shape == (B,) and out.done.dtype == torch.bool
        observed.append(out.tokens)
        taken.append(actions)
    assert [i + 1 for i, f in enumerate(flushes) if f] == [period + 1, 2 * period + 1]


def test_without_flush_the_env_is_the_world_model_stepped_from_one_reset():
    wm, spec = make_model(ActionSpec("discrete", 3), 2)
    g = torch.Generator().manual_seed(2)
    context, context_actions = random_context(spec, 3, 2, g)
    env = WorldModelEnv(wm)
    env.reset(context, context_actions)
    state = wm.imagine_reset(context, context_actions)
    for _ in range(H):  # past the flush period: nothing is flushed
        actions = random_actions(spec, (3,), g)
        rng = torch.get_rng_state()
        out = env.step(actions)
        torch.set_rng_state(rng)
        want = wm.imagine_step(state, actions)
        state = want.state
        assert not out.flushed and all(torch.equal(out.tokens[k], want.tokens[k]) for k in want.tokens)
        assert env.state.position == state.position


def test_bad_use_raises_one_clear_error():
    wm, spec = make_model(ActionSpec("discrete", 3), 2)
    context, context_actions = random_context(spec, 1, 2, torch.Generator().manual_seed(3))
    with pytest.raises(ValueError, match="flush_every must be a positive number of steps or None, got 0"):
        WorldModelEnv(wm, flush_every=0)
    env = WorldModelEnv(wm)
    with pytest.raises(RuntimeError, match="call reset"):
        env.step(torch.tensor([0]))
    with pytest.raises(ValueError, match=r"from 2 observations and 1 actions, got .*'vector': 1.* and 0 actions"):
        env.reset({k: v[:, :1] for k, v in context.items()}, context_actions[:, :0])
