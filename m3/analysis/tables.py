"""Tables in Markdown and LaTeX (booktabs): per-game scores and aggregate metrics (design §9.3).

A `Table` is plain strings; the caller formats the numbers and marks the cells to emphasise (the best
algorithm per game). LaTeX output escapes its special characters (game names such as
`ball_in_cup-catch`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "_": r"\_", "%": r"\%", "&": r"\&", "#": r"\#", "$": r"\$",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


@dataclass
class Table:
    columns: list[str]
    rows: list[list[str]]  # each row: label, then one cell per remaining column
    caption: str
    bold: set[tuple[int, int]] = field(default_factory=set)  # (row, column) cells in bold
    footer_start: int | None = None  # rows from here on are summaries, set off by a rule
    notes: tuple[str, ...] = ()  # lines printed under the table (what was left out, and why)

    def __post_init__(self):
        for row in self.rows:
            if len(row) != len(self.columns):
                raise ValueError(f"table row {row} has {len(row)} cells for {len(self.columns)} columns")


def to_markdown(table: Table) -> str:
    def cell(r: int, c: int, text: str) -> str:
        return f"**{text}**" if (r, c) in table.bold and text else text

    lines = [f"*{table.caption}*", "", "| " + " | ".join(table.columns) + " |",
             "|" + "|".join(["---"] + ["---:"] * (len(table.columns) - 1)) + "|"]
    for r, row in enumerate(table.rows):
        if r == table.footer_start:
            lines.append("| " + " | ".join([""] * len(table.columns)) + " |")
        lines.append("| " + " | ".join(cell(r, c, text) for c, text in enumerate(row)) + " |")
    if table.notes:
        lines += ["", *(f"Note: {note}." for note in table.notes)]
    return "\n".join(lines) + "\n"


def latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)


def to_latex(table: Table) -> str:
    def cell(r: int, c: int, text: str) -> str:
        text = latex_escape(text)
        return rf"\textbf{{{text}}}" if (r, c) in table.bold and text else text

    lines = [r"\begin{table}[t]", r"\centering", rf"\caption{{{latex_escape(table.caption)}}}",
             r"\begin{tabular}{l" + "r" * (len(table.columns) - 1) + "}", r"\toprule",
             " & ".join(latex_escape(c) for c in table.columns) + r" \\", r"\midrule"]
    for r, row in enumerate(table.rows):
        if r == table.footer_start:
            lines.append(r"\midrule")
        lines.append(" & ".join(cell(r, c, text) for c, text in enumerate(row)) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    lines += [rf"\par\footnotesize Note: {latex_escape(note)}." for note in table.notes]
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"
