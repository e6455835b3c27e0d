"""The `oncall` command (Typer) and the composition root that builds `Deps`."""

from oncall.cli.entry import app

__all__ = ["app"]
