"""Tables on the terminal (rich)."""
from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from .. import processes

console = Console(quiet=not processes.is_main())  # of several processes, the main one speaks


def print_table(title: str, header: Sequence[str], rows: Sequence[Sequence]) -> None:
    console.print(f"[bold]{title}[/bold]")
    table = Table()
    for i, name in enumerate(header):
        table.add_column(str(name), justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*(str(c) for c in row))
    console.print(table)
