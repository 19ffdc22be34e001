"""Report: console tables, JSON/markdown files, plots and the HTML report."""
