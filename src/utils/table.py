"""The one results table of the project, rendered for the terminal (rich) or as Markdown.

Runs, evaluations and scripts build a :class:`Table` once and choose the rendering at the end, so
the numbers in a pasted Markdown report are the ones printed on screen. ``rich.print(table)``
renders it as well (``__rich__``).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from rich.console import Console
from rich.measure import Measurement
from rich.table import Table as RichTable


@dataclass
class Table:
    """A titled grid of preformatted cells plus notes printed under it.

    Text columns (the first ``text_columns`` columns, or the columns of those names) are
    left-aligned; the rest are numbers and are right-aligned so that digits line up. A cell too
    wide for the terminal wraps (a long word, such as a path, folds) rather than being cut off.
    """

    title: str
    columns: list[str]
    text_columns: int | Collection[str] = 1
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    sections: list[int] = field(default_factory=list)  # row counts with a rule under them

    def add_row(self, *cells: str) -> None:
        if len(cells) != len(self.columns):
            raise ValueError(
                f"table {self.title!r} has {len(self.columns)} columns, got a row of {len(cells)}"
            )
        self.rows.append(list(cells))

    def add_section(self) -> None:
        """A rule under the rows so far, in the terminal rendering (Markdown has none)."""
        self.sections.append(len(self.rows))

    def add_unmeasured(self, label: str, outcome: str, reason: str) -> None:
        """A row for a candidate that did not run: ``outcome`` in the table, why in the notes."""
        self.add_row(label, outcome, *["—"] * (len(self.columns) - 2))
        self.notes.append(f"{label}: {outcome}, {reason}")

    def column(self, name: str) -> list[str]:
        """The cells of the column called ``name``, top to bottom."""
        index = self.columns.index(name)
        return [row[index] for row in self.rows]

    def is_text(self, index: int) -> bool:
        """Whether column ``index`` holds text (left-aligned) rather than numbers."""
        if isinstance(self.text_columns, int):
            return index < self.text_columns
        return self.columns[index] in self.text_columns

    def to_rich(self) -> RichTable:
        table = RichTable(
            title=self.title, caption="\n".join(self.notes) or None, caption_justify="left"
        )
        for index, name in enumerate(self.columns):
            if self.is_text(index):
                table.add_column(name, justify="left", overflow="fold")
            else:  # wrap headers between words only, so each word stays readable
                widest_word = max(map(len, name.split()), default=0)
                table.add_column(name, justify="right", overflow="fold", min_width=widest_word)
        for count, row in enumerate(self.rows, start=1):
            table.add_row(*row, end_section=count in self.sections)
        return table

    def to_markdown(self) -> str:
        align = [":---" if self.is_text(i) else "---:" for i in range(len(self.columns))]
        lines = [f"### {self.title}", "", _md_row(self.columns), _md_row(align)]
        lines += [_md_row(row) for row in self.rows]
        if self.notes:
            lines += ["", *(f"- {note}" for note in self.notes)]
        return "\n".join(lines) + "\n"

    def __rich__(self) -> RichTable:
        return self.to_rich()


def _md_row(cells: list[str]) -> str:
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def fmt(value: float | None, digits: int = 2) -> str:
    """A number with ``digits`` decimals, or an em dash for a figure that does not exist."""
    return "—" if value is None else f"{value:,.{digits}f}"


def print_table(table: Table) -> None:
    """Print to the terminal, widening past its width rather than cutting cells off."""
    console = Console()
    rendered = table.to_rich()
    unbounded = console.options.update_width(10_000)
    console.width = max(console.width, Measurement.get(console, unbounded, rendered).maximum)
    console.print(rendered)
