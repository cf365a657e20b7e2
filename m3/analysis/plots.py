"""The figures (matplotlib, one fixed colour per algorithm), each at a fixed size so it pastes into a paper.

rliable draws the performance profile, the probability of improvement and the sample-efficiency curves
(design §9.3); the interval plot and the per-game plot are drawn here, on the same
conventions (bars = stratified-bootstrap intervals, black tick = point estimate). A figure with
nothing to show (e.g. learning curves when no algorithm has periodic evaluations) states why in its
middle, at the same size.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import FixedLocator, FormatStrFormatter
from rliable import plot_utils


def figure_size(kind: str, num_games: int) -> tuple[float, float]:
    """Inches (width, height) of each figure; only the per-game figure grows with the number of games."""
    return {
        "aggregates": (12.0, 3.0),
        "profile": (7.0, 4.5),
        "improvement": (7.0, 3.0),
        "per_game": (8.0, max(3.0, 1.5 + 0.25 * num_games)),
        "curves": (7.0, 4.5),
    }[kind]


def new_figure(kind: str, num_games: int, ncols: int = 1):
    fig, axes = plt.subplots(1, ncols, figsize=figure_size(kind, num_games), layout="constrained", squeeze=False)
    return fig, axes[0]


def save(fig, out_dir: Path, name: str, dpi: int) -> list[Path]:
    """Write `<name>.png` (at `dpi`) and `<name>.pdf`; no tight bounding box, so sizes stay fixed."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{name}.png", out_dir / f"{name}.pdf"]
    for path in paths:
        fig.savefig(path, dpi=dpi, metadata={"CreationDate": None} if path.suffix == ".pdf" else None)
    plt.close(fig)
    return paths


def message(kind: str, num_games: int, title: str, text: str):
    """A figure that says why there is nothing to plot."""
    fig, (ax,) = new_figure(kind, num_games)
    ax.set_axis_off()
    ax.set_title(title)
    ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True, fontsize="large", transform=ax.transAxes)
    return fig


def aggregates(names: tuple[str, ...], algos: list[str], points: dict[str, np.ndarray],
               intervals: dict[str, np.ndarray], colors: dict[str, str], xlabel: str, title: str, num_games: int):
    """One panel per metric, one row per algorithm: interval bar and point estimate; an algorithm without
    `intervals` (one value per game) is a diamond, with no bar. Rows keep one height whatever their number."""
    fig, axes = new_figure("aggregates", num_games, ncols=len(names))
    rows = max(len(algos), 3)  # a lone algorithm gets a bar of the usual height, not a panel-high block
    for m, (ax, name) in enumerate(zip(axes, names)):
        for i, algo in enumerate(algos):
            if algo in intervals:
                low, high = intervals[algo][:, m]
                ax.barh(y=i, width=high - low, left=low, height=0.6, color=colors[algo], alpha=0.75)
                ax.vlines(points[algo][m], i - 0.3, i + 0.3, color="k", linewidth=1.5)
            else:
                ax.plot(points[algo][m], i, "D", color=colors[algo], markeredgecolor="k", markersize=6)
        ax.set_yticks(range(len(algos)), algos if m == 0 else [])
        ax.set_ylim(len(algos) - 0.5 + (rows - len(algos)) / 2, -0.5 - (rows - len(algos)) / 2)
        ax.margins(x=0.1)
        ax.set_title(name + (" (lower is better)" if name == "Optimality Gap" else ""))
        ax.xaxis.set_major_locator(plt.MaxNLocator(4))
        ax.grid(True, axis="x", alpha=0.25)
        ax.spines[["top", "right", "left"]].set_visible(False)
    fig.supxlabel(xlabel)
    fig.suptitle(title)
    return fig


def profile(profiles: dict[str, np.ndarray], cis: dict[str, np.ndarray], tau: np.ndarray, colors: dict[str, str],
            xlabel: str, title: str, num_games: int):
    fig, (ax,) = new_figure("profile", num_games)
    plot_utils.plot_performance_profiles(profiles, tau, performance_profile_cis=cis, colors=colors, ax=ax,
                                         xlabel=f"{xlabel} ($\\tau$)", labelsize="large", ticklabelsize="medium")
    ax.axhline(0.5, color="k", linestyle="--", linewidth=1, alpha=0.5)
    outside_legend(fig, ax)
    ax.set_title(title)
    return fig


def outside_legend(fig, ax) -> None:
    """The legend beside the axes (never over the data), one entry per algorithm."""
    fig.legend(*ax.get_legend_handles_labels(), loc="outside right upper", fontsize="small", frameon=False)


def improvement(pairs: dict[str, float], cis: dict[str, np.ndarray], colors: dict[str, str], title: str,
                num_games: int):
    """P(X > Y) of the focal algorithm X (left labels) against each other algorithm Y (right), pairs keyed 'X,Y';
    the axes are labelled "Algorithm X" / "Algorithm Y", as in rliable's figure."""
    fig, (ax,) = new_figure("improvement", num_games)
    pair_colors = [colors[key.split(",")[1]] for key in pairs]
    plot_utils.plot_probability_of_improvement(pairs, cis, ax=ax, colors=pair_colors, xticks=[0, 0.25, 0.5, 0.75, 1],
                                               labelsize="medium", ticklabelsize="medium")
    ax.axvline(0.5, color="k", linestyle="--", linewidth=1, alpha=0.5)
    ax.set_xlim(0, 1)
    twin = fig.axes[-1]  # rliable's right axis, labelled "Algorithm Y"
    for axis, x, align in ((ax, -0.02, "right"), (twin, 1.02, "left")):  # each label over its column of names
        axis.yaxis.label.set_horizontalalignment(align)
        axis.yaxis.set_label_coords(x, 1.0)
    fig.suptitle(title)
    return fig


def per_game(games: tuple[str, ...], algos: list[str], matrices: dict[str, np.ndarray], colors: dict[str, str],
             xlabel: str, title: str, reference: float | None):
    """Mean over runs (dot) and range of runs (line) per game; `reference` draws a dashed line (HNS 1). The
    legend sits above the axes, so it hides no point."""
    fig, (ax,) = new_figure("per_game", len(games))
    offsets = np.linspace(-0.3, 0.3, len(algos)) if len(algos) > 1 else np.zeros(1)
    for algo, dy in zip(algos, offsets):
        scores = matrices[algo]  # (runs, games)
        y = np.arange(len(games)) + dy
        ax.hlines(y, scores.min(axis=0), scores.max(axis=0), color=colors[algo], linewidth=1.5, alpha=0.6)
        ax.plot(scores.mean(axis=0), y, "o", color=colors[algo], markersize=4, label=algo)
    if reference is not None:
        ax.axvline(reference, color="k", linestyle="--", linewidth=1, alpha=0.5)
        ax.set_xscale("symlog", linthresh=1.0)
        ax.xaxis.set_major_locator(FixedLocator([0, 0.5, 1, 2, 4, 8, 16, 32]))
        ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))
        ax.margins(x=0.03)
    ax.set_yticks(range(len(games)), games)
    ax.set_ylim(len(games) - 0.5, -0.5)
    ax.set_xlabel(xlabel)
    ax.grid(True, axis="x", alpha=0.25)
    ax.set_title(title)
    fig.legend(*ax.get_legend_handles_labels(), loc="outside upper center", ncols=min(len(algos), 6),
               fontsize="small", frameon=False)
    return fig


def curves(steps: dict[str, np.ndarray], points: dict[str, np.ndarray], cis: dict[str, np.ndarray],
           colors: dict[str, str], ylabel: str, title: str, num_games: int):
    """IQM over runs × games at each evaluation step, with intervals."""
    fig, (ax,) = new_figure("curves", num_games)
    for algo in points:
        plot_utils.plot_sample_efficiency_curve(steps[algo] / 1e3, {algo: points[algo]}, {algo: cis[algo]},
                                                algorithms=[algo], colors=colors, ax=ax, marker=".",
                                                xlabel="Env steps (thousands)", ylabel=f"IQM {ylabel}",
                                                labelsize="large", ticklabelsize="medium")
    outside_legend(fig, ax)
    ax.set_title(title)
    return fig
