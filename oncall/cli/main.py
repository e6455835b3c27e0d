"""The `oncall` command: one Typer app; each group of commands lives in its own module."""

from __future__ import annotations

import typer

from oncall.cli import ask_cmd, demo_cmd, docs_cmd, paper_cmd, serve_cmd
from oncall.cli.eval_cmd import eval_app

app = typer.Typer(help="oncall-agent: cited answers from internal docs.", no_args_is_help=True)
llm_app = typer.Typer(
    help="The LLM server: embedded llama.cpp, or vLLM on a GPU host.", no_args_is_help=True
)
app.add_typer(llm_app, name="llm")
app.add_typer(eval_app, name="eval")

for command in (
    docs_cmd.ingest,
    docs_cmd.sync,
    docs_cmd.search,
    ask_cmd.ask,
    ask_cmd.chat,
    demo_cmd.demo,
    paper_cmd.paper,
    serve_cmd.slack,
    serve_cmd.serve,
):
    app.command()(command)
llm_app.command("serve")(serve_cmd.llm_serve)
