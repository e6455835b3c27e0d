"""Attacks on what the agent shows (SECURITY.md "Terminal and chat output"): a file name,
title or question chosen by someone else must not send control characters to the reader.
An ANSI sequence in a file name can clear or retitle an engineer's terminal, hide the line
above, or fake output; a carriage return or a bidi override can make one name read as
another. Every renderer (terminal, hand-over, Slack, web) passes such text through
`oncall.core.text.printable`."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

from rich.console import Console

from agent.answer import Answer
from agent.approvals import PendingAction
from agent.citations import Citation
from agent.state import Handover
from bots.slack import messages as slack
from bots.web.payloads import answer_payload
from ingest.pipeline import IngestReport
from oncall.cli.render import render_answer, render_hits, render_report
from tools.search_docs import DocHit

# Clear screen, set the window title, hide text, overwrite the line, reverse the text.
EVIL = "runbook\x1b[2J\x1b]0;pwned\x07\x1b[8mhidden\r\u202eexe.md"
CONTROL = [chr(c) for c in (*range(0, 9), *range(11, 32), 127)] + ["\u202e", "\x9b"]


def hit(name: str = EVIL) -> DocHit:
    return DocHit(
        chunk_id="c1", doc_id=f"runbooks/{name}", source=f"/docs/runbooks/{name}",
        title=f"Title {name}", section=f"Section {name}", page=None,
        text="Roll back with lfctl rollback.", score=1.0, similarity=0.9,
    )  # fmt: skip


def hostile_answer() -> Answer:
    return Answer(
        question=f"how do I roll back? {EVIL}",
        text=f"Roll back with `lfctl rollback` [1].\x1b[2J\x1b[31m{EVIL}",
        citations=[Citation(1, hit())],
        hits=[hit(), hit("[bold red]markup[/] and [/]")],
        abstained=False,
        route_reason=f"because {EVIL}",
        handover=Handover(
            question=f"roll back {EVIL}",
            reason="the user asked for a human",
            searched=[f"rollback {EVIL}"],
            leads=[f"runbooks/{EVIL}"],
            attempt=f"maybe {EVIL}",
            contact="the on-call engineer",
        ),
    )


def assert_clean(text: str, where: str) -> None:
    found = sorted({repr(c) for c in text if c in CONTROL})
    assert not found, f"{where} shows control characters {found}"


def plain_console() -> tuple[Console, io.StringIO]:
    """No colours, no terminal: any escape byte in the output came from the data."""
    out = io.StringIO()
    return Console(file=out, width=200, color_system=None, force_terminal=False), out


def test_terminal_answer_and_hand_over_show_no_control_characters() -> None:
    console, out = plain_console()
    render_answer(console, hostile_answer(), explain=True)
    shown = out.getvalue()
    assert_clean(shown, "oncall ask")
    assert "hand-over" in shown and "runbooks/runbook" in shown, "names are still shown"


def test_terminal_hits_and_ingest_report_show_no_control_characters() -> None:
    console, out = plain_console()
    render_hits(console, [hit(), hit("[/]")])
    report = IngestReport(failed={f"/docs/{EVIL}": f"PartitionError: {EVIL} is not a PDF"})
    render_report(console, report, 1.0, 3)
    shown = out.getvalue()
    assert_clean(shown, "oncall search / ingest")
    assert "[/]" in shown, "markup in a name is shown as text, not interpreted"


def test_slack_messages_show_no_control_characters() -> None:
    answer = hostile_answer()
    assert answer.handover is not None
    parts = slack.answer_messages(answer, "ref1", None, "<!here>")
    action = PendingAction(
        thread_id="t", call_id="w1", tool="create_ticket", args={"title": EVIL},
        description=f"Open a ticket {EVIL}", requested_by="slack:U1",
        requested_by_name=EVIL, requested_groups=[], requested_at=0.0, question="q",
    )  # fmt: skip
    messages = [
        *parts,
        slack.handover_message(f"Hand-over: {EVIL}", "<!here>", "U1"),
        slack.approval_message(action, "ref2"),
    ]
    assert_clean(json.dumps(messages, ensure_ascii=False), "Slack")


def test_web_payload_shows_no_control_characters() -> None:
    payload = answer_payload(hostile_answer())
    names = [payload["handover"], *(json.dumps(c) for c in payload["citations"])]
    assert_clean(" ".join(names), "web payload")


def test_printable_keeps_text_and_marks_what_it_removed() -> None:
    from oncall.core.text import printable

    assert printable("Ünïcode runbook — 值班.md") == "Ünïcode runbook — 值班.md"
    assert printable("a\x1b[2Jb") == "a\ufffd[2Jb"
    assert printable("two\nlines\tand tab") == "two lines and tab"
    assert printable("two\nlines\r", multiline=True) == "two\nlines\ufffd"


def test_cli_ingest_report_of_a_hostile_file_name(tmp_path: Path) -> None:
    """The real command: a folder with a file whose name carries escape sequences."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "ok.md").write_text("# Deploys\n\nDeploys happen at 10:00 UTC.\n")
    (docs / "bad\x1b[2J\x1b]0;pwned\x07.pdf").write_bytes(b"not a pdf")
    env = {**os.environ, "ONCALL_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "200"}
    oncall = str(Path(sys.executable).with_name("oncall"))
    result = subprocess.run(
        [oncall, "ingest", str(docs)], capture_output=True, text=True, env=env, timeout=300
    )
    assert "1 failed" in result.stdout, result.stdout + result.stderr
    assert "bad" in result.stdout and ".pdf" in result.stdout
    assert_clean(result.stdout + result.stderr, "oncall ingest")


def test_paper_report_shows_no_control_characters() -> None:
    """A PDF's title and authors are the PDF author's choice."""
    from tools.papers.model import PaperNotes, PaperReport
    from tools.papers.render import render_report

    notes = PaperNotes(
        paper="arXiv:2401.01234", title=f"Sparse {EVIL}", authors=[f"Mallory {EVIL}"], pages=3
    )
    assert_clean(render_report(PaperReport(notes=[notes])), "oncall paper")
