"""The opt-in fast paths (m3/speed.py) against fp32 eager on the CPU: bf16 autocast steps, torch.compile."""

import copy
import shutil

import pytest
import torch

from m3.config import load_config
from m3.data import PrioritizedSampler
from m3.models.optim import adamw
from m3.speed import compile_agent
from m3.updates import tokenizer_step, world_model_step
from test_updates import ac_step, setup


def test_the_speed_block_is_off_by_default_and_set_from_overrides():
    base = ["benchmark=atari", "scale=smoke", "run_dir=/tmp/unused"]
    assert not load_config(base).speed.bf16 and not load_config(base).speed.compile
    assert load_config([*base, "speed.bf16=true"]).speed.bf16


def test_bf16_steps_give_the_fp32_losses_within_bfloat16_tolerance():
    cfg, agent, store = setup("atari", "Breakout", [30, 17, 25])
    agent.eval()
    c, L = cfg.training.world_model, cfg.world_model.retnet.max_blocks
    results = []
    for bf16 in (False, True):
        model = copy.deepcopy(agent)
        sampler = PrioritizedSampler(uniform_fraction=c.uniform_fraction)
        sampler.sync(store, ctx=cfg.world_model.context_length)
        torch.manual_seed(1)
        wm = world_model_step(model, store, sampler, adamw(model.world_model, c.learning_rate, c.weight_decay), c, L,
                              torch.Generator().manual_seed(1), bf16=bf16)
        tok = tokenizer_step(model, store, torch.optim.AdamW(model.tokenizer.parameters()), cfg.training.tokenizer,
                             torch.Generator().manual_seed(2), bf16=bf16)
        results.append((wm, tok))
    (wm32, tok32), (wm16, tok16) = results
    for key in ("total_loss", "loss_obs", "loss_rewards"):
        assert wm16[key] == pytest.approx(wm32[key], rel=3e-2), key
    for key in ("total_loss", "reconstruction_loss"):
        assert tok16[key] == pytest.approx(tok32[key], rel=3e-2), key


def test_a_bf16_actor_critic_step_gives_the_fp32_loss_within_bfloat16_tolerance():
    cfg, agent, store = setup("cartpole", "CartPole-v1", [30, 26, 41])
    agent.eval()
    fp32 = ac_step(copy.deepcopy(agent), store, cfg, 4)
    bf16 = ac_step(copy.deepcopy(agent), store, cfg, 4, bf16=True)
    assert bf16["loss_values"] == pytest.approx(fp32["loss_values"], rel=3e-2)
    assert bf16["total_loss"] == pytest.approx(fp32["total_loss"], rel=3e-2, abs=1e-2)


@pytest.mark.slow(minutes=1.5)
@pytest.mark.skipif(shutil.which("g++") is None, reason="torch.compile on the CPU needs a C++ compiler")
def test_compiled_world_model_and_tokenizer_compute_what_the_eager_ones_do():
    cfg, agent, store = setup("atari", "Breakout", [30, 17])
    agent.eval()
    compiled = copy.deepcopy(agent)
    compile_agent(compiled)
    batch = store.collate([(0, 2), (1, 5)], cfg.world_model.retnet.max_blocks, "right")
    tokens = agent.tokenizer.tokenize(batch["obs"])
    assert torch.equal(compiled.tokenizer.tokenize(batch["obs"])["image"], tokens["image"])
    want = agent.world_model_loss(batch, tokens)
    got = compiled.world_model_loss(batch, tokens)
    torch.testing.assert_close(got.loss, want.loss, rtol=1e-4, atol=1e-5)
    context = {name: t[:, :2] for name, t in tokens.items()}
    states = [m.world_model.imagine_reset(context, batch["actions"][:, :1], m.codebook) for m in (agent, compiled)]
    preds = [m.world_model.imagine_predict(s, batch["actions"][:, 1])[1] for m, s in zip((agent, compiled), states)]
    torch.testing.assert_close(preds[1].reward, preds[0].reward, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(preds[1].features, preds[0].features, rtol=1e-4, atol=1e-5)
