"""Figures, tables and headline metrics of one benchmark: every file written, at its size, not blank, coloured per
algorithm; tables list every game; a benchmark without scores still writes every output."""

import json
import shutil

import numpy as np
import pytest
from analysis_helpers import ATARI_GAMES, PUBLISHED, write_atari_runs, write_scores
from PIL import Image

from m3.analysis import aggregate, figures
from m3.analysis.params import load_params
from m3.analysis.tables import Table, latex_escape, to_latex, to_markdown

DPI = 40  # fast_params
SIZES_INCHES = {"aggregates": (12, 3), "profile": (7, 4.5), "improvement": (7, 3), "curves": (7, 4.5)}


def check_figures(out, per_game_inches):
    for name in figures.FIGURES:
        inches = per_game_inches if name == "per_game" else SIZES_INCHES[name]
        image = np.asarray(Image.open(out / f"{name}.png").convert("RGB"))
        assert image.shape[:2] == (round(inches[1] * DPI), round(inches[0] * DPI)), name
        assert image.std() > 10, f"{name}.png is blank"
        assert (out / f"{name}.pdf").read_bytes()[:5] == b"%PDF-", name


def colour_pixels(png, hex_colour, tolerance=40):
    image = np.asarray(Image.open(png).convert("RGB")).astype(int)
    rgb = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)])
    return int((np.abs(image - rgb).sum(axis=-1) < tolerance).sum())


@pytest.fixture(scope="module")
def atari_outputs(tmp_path_factory):
    """figures@atari on the published baselines plus two synthetic M3-repro seeds with learning curves."""
    from analysis_helpers import fast_params_file

    tmp = tmp_path_factory.mktemp("atari")
    params = fast_params_file(tmp)
    write_atari_runs(tmp / "scores")
    assert aggregate.main(["--benchmark", "atari", "--scores", str(tmp / "scores"), "--out", str(tmp / "data"),
                           "--params", str(params)]) == 0
    code = figures.main(["--benchmark", "atari", "--params", str(params), "--data", str(tmp / "data"),
                         "--published", str(PUBLISHED / "atari"), "--out", str(tmp / "figures"),
                         "--metrics", str(tmp / "metrics.json")])
    assert code == 0
    return tmp, load_params(params)


def test_atari_figures_are_written_at_their_size_and_not_blank(atari_outputs):
    tmp, _ = atari_outputs
    check_figures(tmp / "figures", (8, 1.5 + 0.25 * 26))


ATARI_ALGOS = ["M3-repro", "M3", "REM", "IRIS", "dreamerv3", "TWM", "SimPLe", "EfficientZero"]


def test_each_algorithm_keeps_its_colour(atari_outputs):
    tmp, params = atari_outputs
    for algo in ATARI_ALGOS:
        assert colour_pixels(tmp / "figures" / "profile.png", params.colors[algo]) > 20, algo
        assert colour_pixels(tmp / "figures" / "per_game.png", params.colors[algo]) > 10, algo
    assert colour_pixels(tmp / "figures" / "curves.png", params.colors["M3-repro"]) > 20
    assert colour_pixels(tmp / "figures" / "curves.png", params.colors["M3"]) == 0  # no published curves


def test_headline_metrics(atari_outputs):
    tmp, _ = atari_outputs
    metrics = json.loads((tmp / "metrics.json").read_text())
    assert list(metrics) == [*ATARI_ALGOS, "notes"]
    assert {k: v for k, v in metrics["M3"].items()} == {
        "iqm": 0.9904, "median": 0.9819, "mean": 1.6453, "optimality_gap": 0.4118, "runs": 5, "games": 26,
        "superhuman": 13}
    assert metrics["M3-repro"]["runs"] == 2 and metrics["EfficientZero"]["runs"] == 1
    assert metrics["notes"] == ("EfficientZero: one value per game, not per run, so no interval, and left out of "
                                "the probability of improvement")


def test_probability_of_improvement_leaves_out_single_value_algorithms(atari_outputs):
    tmp, _ = atari_outputs
    metrics = json.loads((tmp / "metrics.json").read_text())
    p = metrics["M3-repro"]["p_improvement"]
    assert list(p) == ATARI_ALGOS[1:-1]  # every algorithm with runs; EfficientZero has one value per game
    table = (tmp / "figures" / "improvement.md").read_text()
    assert "| Algorithm X | Algorithm Y | P(X > Y) | 95% interval |" in table
    for other, value in p.items():
        assert f"| M3-repro | {other} | {value:.3f} | [" in table
    assert "EfficientZero |" not in table and "Note: EfficientZero: one value per game" in table
    aggregates = (tmp / "figures" / "aggregates.md").read_text()
    assert "| EfficientZero | 1 | 1.047 (no interval) |" in aggregates


def test_tables_list_every_game(atari_outputs):
    tmp, _ = atari_outputs
    markdown = (tmp / "figures" / "per_game.md").read_text()
    latex = (tmp / "figures" / "per_game.tex").read_text()
    for game in ATARI_GAMES:
        assert f"| {game} |" in markdown and f"\n{game} & " in latex
    assert "| #Superhuman |  |  | " in markdown and r"\#Superhuman" in latex
    assert f"| Game | Random | Human | {' | '.join(ATARI_ALGOS)} |" in markdown
    boxing = json.loads((PUBLISHED / "atari" / "M3.json").read_text())["Boxing"]  # M3-repro: seeds 0, 1 of these
    assert f"| Boxing | 0.1 | 12.1 | **{np.mean(boxing[:2]):.1f}** | {np.mean(boxing):.1f} | 87.5 | 70.1 |" in markdown
    assert "| Breakout | 1.7 | 30.5 | " in markdown and "| **414.1** |" in markdown  # EfficientZero's one value
    aggregates = (tmp / "figures" / "aggregates.md").read_text()
    assert "| M3 | 5 | 0.990 [" in aggregates and "| M3-repro | 2 |" in aggregates


def test_tied_best_values_are_all_bold(tmp_path, fast_params):
    """M3-repro runs that reproduce the published DMC M3 exactly: both columns bold on every task."""
    published = json.loads((PUBLISHED / "dmc" / "M3.json").read_text())
    for task, scores in published.items():
        for seed, score in enumerate(scores):
            write_scores(tmp_path / "scores", "dmc", task, seed, [score])
    run_figures(tmp_path, fast_params, "dmc")
    markdown = (tmp_path / "figures" / "per_game.md").read_text()
    for task, scores in published.items():
        assert f"| {task} | **{np.mean(scores):.1f}** | **{np.mean(scores):.1f}** |" in markdown


def run_figures(tmp_path, params, benchmark, published=None):
    (tmp_path / "scores").mkdir(exist_ok=True)
    assert aggregate.main(["--benchmark", benchmark, "--scores", str(tmp_path / "scores"),
                           "--out", str(tmp_path / "data"), "--params", str(params)]) == 0
    assert figures.main(["--benchmark", benchmark, "--params", str(params), "--data", str(tmp_path / "data"),
                         "--published", str(published or PUBLISHED / benchmark), "--out", str(tmp_path / "figures"),
                         "--metrics", str(tmp_path / "metrics.json")]) == 0
    return json.loads((tmp_path / "metrics.json").read_text())


def test_a_partial_sweep_aggregates_what_is_complete_and_states_the_rest(tmp_path, fast_params, capsys):
    """Seeds 0 and 1 of every Atari game except Pong (no runs: a missing game) and Alien seed 1 (a missing seed)."""
    write_atari_runs(tmp_path / "scores", seeds=(0, 1))
    shutil.rmtree(tmp_path / "scores" / "Pong")
    (tmp_path / "scores" / "Alien" / "seed1.json").unlink()
    metrics = run_figures(tmp_path, fast_params, "atari")
    err = capsys.readouterr().err
    alien = "Alien: seed 1 missing, so its runs (seed 0) are left out"
    assert f"warning: atari: left out of M3-repro: {alien}" in err
    assert "warning: atari: left out of M3-repro: Pong: no runs" in err
    ours = json.loads((tmp_path / "data" / "M3-repro.json").read_text())
    assert len(ours) == 24 and "Pong" not in ours and "Alien" not in ours
    assert all(len(v) == 2 for v in ours.values())
    companion = json.loads((tmp_path / "data" / "M3-repro.runs.json").read_text())
    assert [e["text"] for e in companion["left_out"]] == [alien, "Pong: no runs"]
    assert len(companion["runs"]) == 48
    for name in ATARI_ALGOS:  # everyone compared on the same 24 games
        assert metrics[name]["games"] == 24, name
    assert metrics["M3-repro"]["runs"] == 2
    assert f"left out of M3-repro: {alien}" in metrics["notes"]
    assert "every algorithm is compared on the 24 of 26 games that M3-repro has" in metrics["notes"]
    for table in ("per_game", "aggregates", "improvement"):
        markdown = (tmp_path / "figures" / f"{table}.md").read_text()
        assert f"Note: left out of M3-repro: {alien}." in markdown and "Note: left out of M3-repro: Pong: no runs." \
            in markdown, table
        assert "left out of M3-repro: Pong: no runs" in (tmp_path / "figures" / f"{table}.tex").read_text()
    per_game = (tmp_path / "figures" / "per_game.md").read_text()
    assert "| Pong |" not in per_game and "| Alien |" not in per_game and "| Boxing |" in per_game
    check_figures(tmp_path / "figures", (8, 1.5 + 0.25 * 24))


def test_craftax_shows_m3_the_three_baselines_and_the_percent_of_the_maximum(tmp_path, fast_params, capsys):
    metrics = run_figures(tmp_path, fast_params, "craftax")
    assert list(metrics) == ["M3", "PPO-RNN", "PPO-RND", "E3B", "notes"]
    assert metrics["M3"]["mean"] == pytest.approx(14.904, abs=1e-3)  # §9.2: mean of the final returns 14.90
    assert metrics["M3"]["mean_percent_of_max"] == 6.59  # 14.90 / 226
    assert "median" not in metrics["M3"] and "one task: the median" in metrics["notes"]
    aggregates = (tmp_path / "figures" / "aggregates.md").read_text()
    assert "| Algorithm | Runs | IQM | Mean | Mean (% of the 226 maximum) |" in aggregates
    assert "| M3 | 5 | " in aggregates and "| 6.6 % |" in aggregates and "| PPO-RNN | 10 | " in aggregates
    for algo in ("M3", "PPO-RNN", "PPO-RND", "E3B"):  # every curve on the step axis
        colours = colour_pixels(tmp_path / "figures" / "curves.png", load_params(fast_params).colors[algo])
        assert colours > 20, algo


def test_one_seed_of_ours_is_drawn_without_intervals(tmp_path, fast_params):
    """A smoke-like sweep: one seed per game has nothing to resample, like EfficientZero."""
    for task, scores in json.loads((PUBLISHED / "dmc" / "M3.json").read_text()).items():
        write_scores(tmp_path / "scores", "dmc", task, 0, [scores[0]])
    metrics = run_figures(tmp_path, fast_params, "dmc")
    assert metrics["M3-repro"]["runs"] == 1 and "p_improvement" not in metrics["M3-repro"]
    assert metrics["notes"].startswith("M3-repro: one value per game")
    assert "| M3-repro | 1 | " in (tmp_path / "figures" / "aggregates.md").read_text()
    check_figures(tmp_path / "figures", (8, 1.5 + 0.25 * 18))


@pytest.mark.parametrize("benchmark", ["dmc", "craftax"])
def test_a_benchmark_without_runs_writes_every_output(tmp_path, fast_params, benchmark):
    published = tmp_path / "published"
    published.mkdir()
    metrics = run_figures(tmp_path, fast_params, benchmark, published)
    games = load_params(fast_params).benchmark(benchmark).games
    check_figures(tmp_path / "figures", (8, max(3.0, 1.5 + 0.25 * len(games))))
    assert metrics == ({} if benchmark == "dmc" else {"notes": pytest.approx(metrics["notes"])})
    markdown = (tmp_path / "figures" / "per_game.md").read_text()
    assert all(f"| {game} |" in markdown for game in games)


def test_dmc_shows_published_m3(tmp_path, fast_params):
    metrics = run_figures(tmp_path, fast_params, "dmc")
    assert metrics["M3"]["mean"] == pytest.approx(795.6, abs=0.05) and metrics["M3"]["median"] == pytest.approx(
        868.2, abs=0.05)  # the published DMC aggregates


def test_figures_cli_reports_bad_input_in_one_line(tmp_path, fast_params, capsys):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "M3-repro.json").write_text("[1, 2")
    code = figures.main(["--benchmark", "atari", "--params", str(fast_params), "--data", str(tmp_path / "data"),
                         "--published", str(PUBLISHED / "atari"), "--out", str(tmp_path / "figures"),
                         "--metrics", str(tmp_path / "m.json")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "M3-repro.json is not valid JSON" in err[0]
    assert not (tmp_path / "figures").exists()


def test_table_rendering():
    table = Table(["Game", "A", "B"], [["ball_in_cup-catch", "1.0", "2.0"], ["IQM", "0.5", "0.7"]], "x_y & 5%",
                  bold={(0, 2)}, footer_start=1)
    markdown = to_markdown(table)
    assert "| ball_in_cup-catch | 1.0 | **2.0** |" in markdown and "|---|---:|---:|" in markdown
    latex = to_latex(table)
    assert r"ball\_in\_cup-catch & 1.0 & \textbf{2.0} \\" in latex and r"\caption{x\_y \& 5\%}" in latex
    assert latex.count(r"\midrule") == 2
    assert latex_escape("#1 ~ $") == r"\#1 \textasciitilde{} \$"
    with pytest.raises(ValueError, match="has 2 cells for 3 columns"):
        Table(["a", "b", "c"], [["x", "y"]], "")
    noted = Table(["a"], [["x"]], "c", notes=("Pong: no runs",))
    assert to_markdown(noted).endswith("| x |\n\nNote: Pong: no runs.\n")
    assert r"\par\footnotesize Note: Pong: no runs." in to_latex(noted)
