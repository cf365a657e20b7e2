"""`python -m m3.convert`: both official file layouts convert to a loadable m3 weights file; every bad input
stops with one line naming the key, shape, benchmark or file (issue 17)."""

from __future__ import annotations

import pytest
import torch
from convert_reference import DATA, REDUCED, load

from m3.convert import ConversionError, convert, split_components
from m3.convert.__main__ import main
from m3.weights import load_agent, read_weights


def flat_agent_state(benchmark: str) -> dict[str, torch.Tensor]:
    """The reference weights as an official `Agent.state_dict()` (last.pt / published-file layout)."""
    ref = load(f"{benchmark}_weights.pt")
    return {f"{c}.{k}": v for c in ("tokenizer", "world_model", "actor_critic") for k, v in ref[c].items()}


def test_converts_training_checkpoint_layout(tmp_path, capsys):
    source = tmp_path / "last.pt"
    torch.save(flat_agent_state("atari"), source)
    out = tmp_path / "w.pt"
    assert main(["--from-official", str(source), "--benchmark", "atari", *REDUCED["atari"], "--out", str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    agent, loaded = load_agent(out)
    assert loaded.cfg.env.game == "DemonAttack" and loaded.epoch is None
    assert loaded.origin["official_checkpoint"] == str(source) and len(loaded.origin["sha256"]) == 64
    official = load("atari_weights.pt")
    assert torch.equal(agent.state_dict()["world_model.prediction_embedding.weight"],
                       official["world_model"]["placeholder_embeddings.weight"].float())
    assert torch.equal(agent.state_dict()["tokenizer.image.codebook.weight"],
                       official["tokenizer"]["tokenizers.image.embedding.weight"].float())


def test_both_layouts_give_the_same_weights(tmp_path):
    torch.save(flat_agent_state("craftax"), tmp_path / "agent.pt")
    for name, source in (("a.pt", tmp_path / "agent.pt"), ("b.pt", DATA / "craftax_weights.pt")):
        assert main(["--from-official", str(source), "--benchmark", "craftax", *REDUCED["craftax"],
                     "--out", str(tmp_path / name)]) == 0
    a, b = read_weights(tmp_path / "a.pt").state, read_weights(tmp_path / "b.pt").state
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    columns = load("craftax_weights.pt")["actor_critic"]
    prefix = "obs_encoders.token_2d.embeddings.embeddings.embeddings"
    joined = torch.cat([columns[f"{prefix}.{i}.weight"] for i in range(4)])
    assert torch.equal(a["actor_critic.trunk.encoder.token_2d.weight"], joined.float())


def error_line(capsys, argv) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("m3.convert: error: ")
    return err


def test_bad_input_gives_one_line(tmp_path, capsys):
    dmc = str(DATA / "dmc_weights.pt")
    out = str(tmp_path / "w.pt")
    assert "official dmc checkpoint, not atari" in error_line(
        capsys, ["--from-official", dmc, "--benchmark", "atari", "--out", out])
    assert "world_model.embedder.embeddings.vector.weight has shape (125, 48), m3's config gives (125, 192)" in (
        error_line(capsys, ["--from-official", dmc, "--benchmark", "dmc", "--out", out]))
    (tmp_path / "notes.pt").write_text("hello")
    assert "corrupt or not a torch file" in error_line(
        capsys, ["--from-official", str(tmp_path / "notes.pt"), "--benchmark", "dmc", "--out", out])
    torch.save({"step": 3}, tmp_path / "foreign.pt")
    assert "not an official M3 checkpoint: key 'step'" in error_line(
        capsys, ["--from-official", str(tmp_path / "foreign.pt"), "--benchmark", "dmc", "--out", out])
    assert "does not exist" in error_line(
        capsys, ["--from-official", str(tmp_path / "missing.pt"), "--benchmark", "dmc", "--out", out])
    assert "world_model.retnet.num_layer" in error_line(
        capsys, ["--from-official", dmc, "--benchmark", "dmc", "world_model.retnet.num_layer=2", "--out", out])
    assert not (tmp_path / "w.pt").exists()


def test_converted_file_is_refused_as_source(tmp_path, capsys):
    out = tmp_path / "w.pt"
    assert main(["--from-official", str(DATA / "dmc_weights.pt"), "--benchmark", "dmc", *REDUCED["dmc"],
                 "--out", str(out)]) == 0
    assert "already an m3 weights file" in error_line(
        capsys, ["--from-official", str(out), "--benchmark", "dmc", "--out", str(tmp_path / "x.pt")])


def test_unmapped_and_missing_keys_are_named():
    from convert_reference import reduced_config

    from m3.agent import Agent
    from m3.envs import registry

    cfg = reduced_config("dmc")
    agent = Agent(cfg, registry.env_spec("dmc", cfg.env))
    parts = split_components(load("dmc_weights.pt"), "ref")
    parts["world_model"]["head_extra.0.weight"] = torch.zeros(2, 2)
    with pytest.raises(ConversionError, match=r"official key world_model\.head_extra\.0\.weight \(2, 2\) has no "):
        convert(parts, agent)
    del parts["world_model"]["head_extra.0.weight"]
    del parts["actor_critic"]["critic.lstm.bias_hh_l0"]
    with pytest.raises(ConversionError, match=r"no tensor for m3's actor_critic\.critic_trunk\.lstm\.bias_hh \(96,\)"):
        convert(parts, agent)
