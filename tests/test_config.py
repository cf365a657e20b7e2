"""The Hydra tree composes for every benchmark with the numbers of spec §3, and bad overrides fail clearly."""

import pytest

from m3.config import ConfigError, compose_config, load_config


def compose(*overrides):
    return compose_config(["run_dir=/tmp/unused", *overrides])


def test_atari_numbers():
    cfg = compose("benchmark=atari")
    assert (cfg.epochs, cfg.collection.train.stop_after_epochs, cfg.collection.train.num_steps) == (600, 500, 200)
    assert cfg.world_model.retnet.num_layers == 10 and cfg.world_model.retnet.max_blocks == 10
    assert cfg.world_model.context_length == 2 and cfg.imagination.imagine_horizon == 10
    t = cfg.training
    starts = (t.tokenizer.start_after_epochs, t.world_model.start_after_epochs, t.actor_critic.start_after_epochs)
    assert starts == (5, 25, 50)
    assert (t.world_model.batch_size, t.world_model.max_grad_norm, t.world_model.weight_decay) == (32, 3.0, 0.05)
    assert cfg.collection.train.epsilon == 0.01 and cfg.evaluation.every == 20
    assert cfg.tokenizer.perceptual_loss is True


def test_dmc_numbers():
    cfg = compose("benchmark=dmc")
    r = cfg.world_model.retnet
    assert (r.num_heads, r.embed_dim, r.blocks_per_chunk, r.max_blocks) == (3, 192, 20, 20)
    assert cfg.world_model.context_length == 1 and cfg.controller.separate_networks
    assert cfg.training.actor_critic.critic_warmup_epochs == 5
    assert cfg.imagination.intrinsic_reward_weight == 10.0 and cfg.collection.test.num_episodes_end == 500


def test_craftax_numbers():
    cfg = compose("benchmark=craftax")
    assert cfg.epochs == 10000 and cfg.world_model.retnet.num_layers == 5
    assert cfg.controller.obs_mlp_layer_sizes == [512, 512]
    assert cfg.imagination.real_reward_weight == 100.0 and cfg.float32_matmul_precision == "high"
    assert cfg.training.world_model.batch_size == 8


def test_smoke_scale_shrinks_and_disables_lpips():
    cfg = compose("benchmark=atari", "scale=smoke")
    assert cfg.epochs <= 10 and cfg.tokenizer.perceptual_loss is False
    assert cfg.world_model.retnet.num_layers == 1


def test_cartpole_validates():
    cfg = load_config(["benchmark=cartpole", "run_dir=/tmp/x", "seed=3"])
    assert cfg.seed == 3 and cfg.env.game == "CartPole-v1"


@pytest.mark.parametrize("overrides, needle", [
    (["benchmark=pong"], "pong"),
    (["benchmark=cartpole", "no_such_key=1"], "no_such_key"),
    (["benchmark=cartpole", "seed=abc"], "abc"),
    (["benchmark=cartpole", "device=tpu"], "tpu"),
    (["benchmark=cartpole", "env.game=Pong-v0"], "Pong-v0"),
    (["benchmark=cartpole", "training.world_model.batch_size=6"], "batch_size=6"),
])
def test_bad_overrides_fail_naming_the_value(overrides, needle):
    with pytest.raises(ConfigError, match=needle):
        load_config(["run_dir=/tmp/x", *overrides])


def test_missing_benchmark_is_an_error():
    with pytest.raises(ConfigError, match="benchmark"):
        load_config(["run_dir=/tmp/x"])
