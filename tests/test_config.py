"""The Hydra tree composes for every benchmark with the numbers of design §3, and bad overrides fail clearly."""

from operator import attrgetter

import pytest

from m3.config import ConfigError, Interval, compose_config, load_config


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
    assert cfg.world_model.context_length == 1 and cfg.actor_critic.separate_networks
    assert cfg.training.actor_critic.critic_warmup_epochs == 5
    assert cfg.imagination.intrinsic_reward_weight == 10.0 and cfg.collection.test.num_episodes_end == 500


def test_craftax_numbers():
    cfg = compose("benchmark=craftax")
    assert cfg.epochs == 10000 and cfg.world_model.retnet.num_layers == 5
    assert cfg.actor_critic.obs_mlp_layer_sizes == [512, 512]
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
    (["benchmark=cartpole", "seed=-1"], r"seed=-1 is not allowed; a run seed is an integer in \[0, 4294967296\)"),
    (["benchmark=cartpole", "seed=4294967296"], "seed=4294967296 is not allowed"),
    (["benchmark=cartpole", "--epochs=3"], r"'--epochs=3' is not an override: .* \(e.g. epochs=<value>, no dashes\)"),
])
def test_bad_overrides_fail_naming_the_value(overrides, needle):
    with pytest.raises(ConfigError, match=needle):
        load_config(["run_dir=/tmp/x", *overrides])


def test_missing_benchmark_is_an_error():
    with pytest.raises(ConfigError, match="benchmark"):
        load_config(["run_dir=/tmp/x"])


def structure(cfg) -> dict:
    """Everything `scale=small` must keep (docs/learning.md): the schedule in env steps and updates per env step,
    the sequence lengths, the RL and loss settings and the evaluation protocol, computed from a config."""
    t, c, steps = cfg.training, cfg.collection, cfg.collection.train.num_steps
    components = {"tokenizer": t.tokenizer, "world_model": t.world_model, "actor_critic": t.actor_critic}
    return {
        "epochs": cfg.epochs, "env_steps_collected": c.train.stop_after_epochs * steps, "env_steps_per_epoch": steps,
        "updates_per_env_step": {k: o.steps_per_epoch / steps for k, o in components.items()},
        "starts_after_env_steps": {k: o.start_after_epochs * steps for k, o in components.items()},
        "actor_starts_after_env_steps":
            (t.actor_critic.start_after_epochs + t.actor_critic.critic_warmup_epochs) * steps,
        "optimisers": {k: (o.learning_rate, o.weight_decay, o.max_grad_norm) for k, o in components.items()},
        "uniform_fraction": t.world_model.uniform_fraction,
        "world_model": {k: v for k, v in vars(cfg.world_model).items() if k != "retnet"},
        "segments": {k: getattr(cfg.world_model.retnet, k) for k in
                     ("max_blocks", "blocks_per_chunk", "decay_scale_min_num_blocks", "decay_scale_max_num_blocks",
                      "dropout")},
        "imagination": vars(cfg.imagination), "exploration": (c.train.epsilon, c.train.temperature),
        "evaluation": (cfg.evaluation.every * steps, vars(c.test)),
        "actor_critic": {k: getattr(cfg.actor_critic, k) for k in
                       ("image_conv_layers", "separate_networks", "include_action_inputs", "num_value_bins",
                        "n_action_quant_levels")},
        "image_tokens": (cfg.tokenizer.vocab_size, cfg.tokenizer.resolution, cfg.tokenizer.num_downsample_steps),
        "precision": cfg.float32_matmul_precision, "replay": cfg.replay.max_ram_gb,
    }


def parameters(cfg) -> int:
    from m3.agent import Agent
    from m3.envs import registry

    return sum(p.numel() for p in Agent(cfg, registry.env_spec(cfg.benchmark, cfg.env)).parameters())


@pytest.mark.parametrize("benchmark, game", [("atari", "Breakout"), ("dmc", "walker-walk"),
                                             ("craftax", "Craftax-Symbolic-v1")])
def test_small_scale_keeps_the_benchmark_structure_and_shrinks_the_models(benchmark, game):
    base = ["run_dir=/tmp/x", f"benchmark={benchmark}", f"env.game={game}", "tokenizer.perceptual_loss=false"]
    paper, small = load_config(base), load_config([*base, "scale=small"])
    assert structure(small) == structure(paper)
    for key in ("tokenizer.embed_dim", "tokenizer.channels_first_layer", "world_model.retnet.num_layers",
                "world_model.retnet.embed_dim", "training.tokenizer.batch_size", "training.world_model.batch_size",
                "training.actor_critic.batch_size"):
        assert attrgetter(key)(small) <= attrgetter(key)(paper), key
    assert max(small.actor_critic.obs_mlp_layer_sizes) < max(paper.actor_critic.obs_mlp_layer_sizes)
    assert parameters(small) * 5 < parameters(paper)


@pytest.mark.parametrize("benchmark", ["atari", "dmc", "craftax", "cartpole"])
@pytest.mark.parametrize("scale", ["paper", "small", "smoke"])
def test_every_number_of_every_preset_has_an_allowed_range_it_lies_in(benchmark, scale):
    load_config([f"benchmark={benchmark}", f"scale={scale}", "run_dir=/tmp/x"])  # check_ranges raises otherwise


@pytest.mark.parametrize("override, message", [
    ("epochs=0", "epochs=0 is not allowed; it must lie in [1, inf)"),
    ("imagination.gamma=1.01", "imagination.gamma=1.01 is not allowed; it must lie in [0, 1]"),
    ("replay.max_ram_gb=-1", "replay.max_ram_gb=-1.0 is not allowed; it must lie in (0, inf)"),
    ("collection.train.temperature=0", "collection.train.temperature=0.0 is not allowed; it must lie in (0, inf)"),
    ("training.world_model.start_after_epochs=-1", "start_after_epochs=-1 is not allowed; it must lie in [0, inf)"),
])
def test_out_of_range_values_name_the_key_and_the_range(override, message):
    with pytest.raises(ConfigError) as e:
        load_config(["benchmark=cartpole", "run_dir=/tmp/x", override])
    assert message in str(e.value)


def test_edges_of_ranges_are_allowed():
    cfg = load_config(["benchmark=cartpole", "run_dir=/tmp/x", "imagination.gamma=1", "collection.train.epsilon=0",
                       "training.world_model.start_after_epochs=0"])
    assert cfg.imagination.gamma == 1.0


@pytest.mark.parametrize("text, inside, outside", [
    ("[0, 1)", [0, 0.5, 0.999], [-1e-9, 1, 2]),
    ("(0, inf)", [1e-12, 1e300], [0, -1]),
    ("[2, 5]", [2, 5], [1.999, 5.001]),
])
def test_an_interval_holds_what_its_brackets_say(text, inside, outside):
    interval = Interval.parse(text)
    assert all(x in interval for x in inside) and not any(x in interval for x in outside)


def test_a_malformed_interval_is_refused():
    with pytest.raises(ValueError, match="not an interval"):
        Interval.parse("0..1")


def test_an_added_key_is_refused_not_dropped():
    with pytest.raises(ConfigError, match="unknown config key 'training.world_model.batchsize'"):
        load_config(["benchmark=cartpole", "run_dir=/tmp/x", "+training.world_model.batchsize=8"])


def test_hydra_message_keeps_the_options_and_the_type_on_one_line():
    with pytest.raises(ConfigError) as e:
        load_config(["benchmark=pong", "run_dir=/tmp/x"])
    assert "Available options in 'benchmark': atari; cartpole; craftax; dmc" in str(e.value)
    with pytest.raises(ConfigError) as e:
        load_config(["benchmark=cartpole", "run_dir=/tmp/x", "epochs=abc"])
    assert "could not be converted to Integer" in str(e.value) and "\n" not in str(e.value)
