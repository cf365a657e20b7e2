"""Figures, tables and headline metrics of one benchmark: every file written, at its size, not blank, coloured per
algorithm; tables list every game; a benchmark without scores still writes every output."""

import json
import shutil

import numpy as np
import pytest
from analysis_helpers import ATARI_GAMES, PUBLISHED, write_atari_runs
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


def test_each_algorithm_keeps_its_colour(atari_outputs):
    tmp, params = atari_outputs
    for algo in ("M3-repro", "M3", "REM", "IRIS"):
        assert colour_pixels(tmp / "figures" / "profile.png", params.colors[algo]) > 20, algo
        assert colour_pixels(tmp / "figures" / "per_game.png", params.colors[algo]) > 20, algo
    assert colour_pixels(tmp / "figures" / "curves.png", params.colors["M3-repro"]) > 20
    assert colour_pixels(tmp / "figures" / "curves.png", params.colors["M3"]) == 0  # no published curves


def test_headline_metrics(atari_outputs):
    tmp, _ = atari_outputs
    metrics = json.loads((tmp / "metrics.json").read_text())
    assert list(metrics) == ["M3-repro", "M3", "REM", "IRIS"]
    assert metrics["M3"] == {"iqm": 0.9904, "median": 0.9819, "mean": 1.6453, "optimality_gap": 0.4118, "runs": 5,
                             "superhuman": 13}
    assert metrics["M3-repro"]["runs"] == 2


def test_tables_list_every_game(atari_outputs):
    tmp, _ = atari_outputs
    markdown = (tmp / "figures" / "per_game.md").read_text()
    latex = (tmp / "figures" / "per_game.tex").read_text()
    for game in ATARI_GAMES:
        assert f"| {game} |" in markdown and f"\n{game} & " in latex
    assert "| #Superhuman |  |  | " in markdown and r"\#Superhuman" in latex
    assert "| Game | Random | Human | M3-repro | M3 | REM | IRIS |" in markdown
    boxing = json.loads((PUBLISHED / "atari" / "M3.json").read_text())["Boxing"]  # M3-repro: seeds 0, 1 of these
    assert f"| Boxing | 0.1 | 12.1 | **{np.mean(boxing[:2]):.1f}** | {np.mean(boxing):.1f} | 87.5 | 70.1 |" in markdown
    aggregates = (tmp / "figures" / "aggregates.md").read_text()
    assert "| M3 | 5 | 0.990 [" in aggregates and "| M3-repro | 2 |" in aggregates


@pytest.mark.parametrize("benchmark", ["dmc", "craftax"])
def test_a_benchmark_without_runs_writes_every_output(tmp_path, fast_params, benchmark):
    data, published = tmp_path / "data", tmp_path / "published"
    (tmp_path / "scores").mkdir()
    assert aggregate.main(["--benchmark", benchmark, "--scores", str(tmp_path / "scores"), "--out", str(data),
                           "--params", str(fast_params)]) == 0
    if benchmark == "craftax":
        shutil.copytree(PUBLISHED / "craftax", published)
    else:
        published.mkdir()
    assert figures.main(["--benchmark", benchmark, "--params", str(fast_params), "--data", str(data),
                         "--published", str(published), "--out", str(tmp_path / "figures"),
                         "--metrics", str(tmp_path / "metrics.json")]) == 0
    games = load_params(fast_params).benchmark(benchmark).games
    check_figures(tmp_path / "figures", (8, max(3.0, 1.5 + 0.25 * len(games))))
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics == ({} if benchmark == "dmc" else {"M3": pytest.approx(metrics["M3"])})
    if benchmark == "craftax":
        assert metrics["M3"]["mean"] == pytest.approx(14.904, abs=1e-3)  # §9.2: mean of the final returns 14.90
    markdown = (tmp_path / "figures" / "per_game.md").read_text()
    assert all(f"| {game} |" in markdown for game in games)


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
