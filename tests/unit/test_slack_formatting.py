"""Slack formatting is pure: Markdown -> mrkdwn, citation links, splitting at Slack's limits,
and the Block Kit messages built from an `Answer`."""

from __future__ import annotations

import re

import pytest

from agent.citations import Citation
from agent.service import Answer
from agent.state import Handover
from bots.doclinks import view_url
from bots.slack import messages as msg
from bots.slack.formatting import (
    MESSAGE_CHARS,
    SECTION_CHARS,
    citation_url,
    group_sections,
    link_markers,
    sources_text,
    split_text,
    to_mrkdwn,
)
from tools.search_docs import DocHit


def hit(doc_id: str = "runbooks/db.md", source: str = "/docs/runbooks/db.md", **kw: str) -> DocHit:
    fields = {"title": "DB runbook", "section": "Failover", "text": "x", **kw}
    return DocHit(
        "c1", doc_id, source, fields["title"], fields["section"], None, fields["text"], 1.0, 0.9
    )


@pytest.mark.parametrize(
    ("markdown", "mrkdwn"),
    [
        ("**bold** and *italic* and ~~gone~~", "*bold* and _italic_ and ~gone~"),
        ("__bold__ then _it_", "*bold* then _it_"),
        ("see [the runbook](https://x.io/a_b) now", "see <https://x.io/a_b|the runbook> now"),
        ("auto <https://x.io>", "auto <https://x.io|https://x.io>"),
        ("## Rolling back", "*Rolling back*"),
        ("# **Title** #", "*Title*"),
        ("- one\n* two\n  + nested", "• one\n• two\n  • nested"),
        ("a < b && c > d", "a &lt; b &amp;&amp; c &gt; d"),
        ("use `**not bold** <x>` here", "use `**not bold** &lt;x&gt;` here"),
        ("```bash\necho **hi** <x>\n```", "```\necho **hi** &lt;x&gt;\n```"),
        ("```\nunclosed", "```\nunclosed\n```"),
        ("2 * 3 * 4", "2 * 3 * 4"),
        ("snake_case_name stays", "snake_case_name stays"),
    ],
)
def test_markdown_to_mrkdwn(markdown: str, mrkdwn: str) -> None:
    assert to_mrkdwn(markdown) == mrkdwn


def test_citation_urls_prefer_the_source_url_then_the_docs_base() -> None:
    assert citation_url(hit(source="https://wiki.x/page"), "https://docs") == "https://wiki.x/page"
    assert citation_url(hit(doc_id="a b/c.md"), "https://docs/") == "https://docs/a%20b/c.md"
    assert citation_url(hit(), None) is None


def test_markers_become_links_outside_code_only() -> None:
    citations = [Citation(1, hit()), Citation(2, hit(source="https://w/2"))]
    text = "Fail over [1] and check [2] and [3].\n```\narr[1]\n```\n`x[2]`"
    linked = link_markers(text, citations, "https://docs")
    assert "over <https://docs/runbooks/db.md|[1]>" in linked
    assert "check <https://w/2|[2]>" in linked
    assert "and [3]." in linked, "a number without a source stays as written"
    assert "arr[1]" in linked and "`x[2]`" in linked
    assert link_markers("see [1]", citations, None) == "see [1]", "no URL: no link"


def test_sources_list_links_or_names_each_citation_and_fits_a_section() -> None:
    text = sources_text([Citation(1, hit()), Citation(2, hit(source="https://w"))], None)
    assert text.splitlines() == [
        "*Sources*",
        "[1] `DB runbook › Failover`",
        "[2] <https://w|DB runbook › Failover>",
    ]
    many = [Citation(i, hit(title="T" * 190)) for i in range(1, 40)]
    squeezed = sources_text(many, "https://docs")
    assert len(squeezed) <= SECTION_CHARS and squeezed.endswith("more")


def test_short_text_is_one_piece() -> None:
    assert split_text("hello\n\nworld") == ["hello\n\nworld"]


def test_long_prose_splits_at_paragraphs_then_sentences_and_loses_nothing() -> None:
    paragraphs = [f"Paragraph {i}. " + "Some sentence here. " * 60 for i in range(8)]
    text = "\n\n".join(paragraphs)
    pieces = split_text(text, 3000)
    assert len(pieces) > 1 and all(len(p) <= 3000 for p in pieces)
    assert _words(" ".join(pieces)) == _words(text)
    assert all(p.rstrip().endswith(".") for p in pieces), "cut at sentence ends"


def test_a_long_code_block_is_closed_and_reopened_across_pieces() -> None:
    code = "```\n" + "\n".join(f"line {i} <x>" for i in range(400)) + "\n```"
    pieces = split_text("Intro.\n\n" + code + "\n\nOutro.", 1000)
    assert all(len(p) <= 1000 for p in pieces)
    assert all(p.count("```") % 2 == 0 for p in pieces)
    body = [line for p in pieces for line in p.splitlines() if line.startswith("line")]
    assert body == [f"line {i} <x>" for i in range(400)]


def test_splitting_never_cuts_inside_a_link_and_hard_cuts_giant_words() -> None:
    text = ("word " * 50 + "<https://example.com/a|a label with spaces> ") * 20
    for piece in split_text(text, 400):
        assert piece.count("<") == piece.count(">")
    giant = "x" * 7000
    assert [len(p) for p in split_text(giant, 3000)] == [3000, 3000, 1000]


def test_sections_are_grouped_under_the_block_and_text_limits() -> None:
    small = group_sections(["s" * 100] * 60, reserved_blocks=3)
    assert [len(g) for g in small] == [47, 13]
    big = group_sections(["b" * 3000] * 30)
    assert all(sum(len(s) + 2 for s in g) <= MESSAGE_CHARS for g in big)
    assert sum(len(g) for g in big) == 30


def answer(**kw: object) -> Answer:
    fields: dict[str, object] = {
        "question": "q", "text": "Fail over with **pgctl** [1].", "hits": [hit()],
        "citations": [Citation(1, hit())], "abstained": False, "turn_id": "t1",
        "timings_ms": {"total": 1234.0}, **kw,
    }  # fmt: skip
    return Answer(**fields)  # type: ignore[arg-type]


def action_ids(message: msg.Message) -> list[str]:
    return [e["action_id"] for e in message["blocks"][-1]["elements"]]


def test_answer_message_has_text_sources_context_and_buttons() -> None:
    [message] = msg.answer_messages(answer(), "ref1", "https://docs", "<@U1>")
    blocks = message["blocks"]
    assert blocks[0]["text"]["text"] == "Fail over with *pgctl* <https://docs/runbooks/db.md|[1]>."
    assert blocks[1]["text"]["text"].startswith("*Sources*")
    assert "quick answer · 1.2 s" in blocks[2]["elements"][0]["text"]
    assert action_ids(message) == [msg.HELPFUL, msg.UNHELPFUL, msg.DEEPER, msg.ESCALATE]
    assert {e["value"] for e in blocks[-1]["elements"]} == {"ref1"}


def test_deep_unrecorded_and_handed_over_answers_change_the_buttons() -> None:
    handover = Handover("q", "the docs I can search do not answer this", [], [], "", "x")
    [message] = msg.answer_messages(
        answer(route="deep", turn_id=None, citations=[], handover=handover), "r", None, "<@U9>"
    )
    assert action_ids(message) == [msg.ESCALATE]
    assert message["blocks"][-1]["elements"][0]["style"] == "danger"
    assert "Escalate to bring in <@U9>" in str(message["blocks"])


def test_a_huge_answer_becomes_several_messages_with_buttons_on_the_last() -> None:
    text = "\n\n".join(f"Paragraph {i}. " + "words and more words. " * 120 for i in range(40))
    parts = msg.answer_messages(answer(text=text), "r", None, "x")
    assert len(parts) >= 2
    for part in parts:
        assert len(part["text"]) <= MESSAGE_CHARS and len(part["blocks"]) <= 50
    assert [p["blocks"][-1]["type"] for p in parts][-1] == "actions"
    assert all(p["blocks"][-1]["type"] == "section" for p in parts[:-1])


def _words(text: str) -> list[str]:
    return re.findall(r"\S+", text)


def test_with_the_web_url_file_citations_open_its_document_view() -> None:
    web = "https://chat.example.com/"
    url = citation_url(hit(), "https://docs", web)
    assert url == "https://chat.example.com" + view_url("/docs/runbooks/db.md", "c1")
    assert "/docs/runbooks" not in url, "the view key, never the server path"
    assert citation_url(hit(source="https://wiki.x/p"), None, web) == "https://wiki.x/p"
    tool = DocHit("tool:run_python", "run_python", "", "run_python", "", None, "4", 0.0, 1.0)
    assert citation_url(tool, "https://docs", web) is None, "a tool result has no page"
    assert citation_url(tool, "https://docs") is None


COMPUTED = {"code": "print(6 * 7)", "output": "stdout:\n42", "ok": True, "error": "",
            "attempts": 2, "files": ["data.csv"]}  # fmt: skip


def test_a_computed_answer_says_what_ran_and_offers_its_code() -> None:
    [message] = msg.answer_messages(answer(computation=COMPUTED), "r", None, "x")
    said = str(message["blocks"])
    assert "Computed by a Python program run in the sandbox on `data.csv`" in said
    assert "fixed after a failed run" in said and "print(6" not in said, "code folded away"
    assert msg.SHOW_CODE in action_ids(message)
    assert msg.SHOW_CODE not in action_ids(msg.answer_messages(answer(), "r", None, "x")[0])


def test_the_code_message_shows_program_and_output_as_escaped_code_blocks() -> None:
    code = "rows = [r for r in data if r > 1 and r < 5]\nprint(len(rows))"
    message = msg.code_message({**COMPUTED, "code": code, "output": "stdout:\n<3>"}, "U7")
    sections = [b["text"]["text"] for b in message["blocks"] if b["type"] == "section"]
    text = "\n\n".join(sections)
    assert "```\nrows = [r for r in data if r &gt; 1 and r &lt; 5]\nprint(len(rows))\n```" in text
    assert text.endswith("*What it printed*\n\n```\nstdout:\n&lt;3&gt;\n```")
    assert message["blocks"][-1]["elements"][0]["text"] == "Shown for <@U7>."
    broken = {**COMPUTED, "ok": False, "output": "error:\nZeroDivisionError"}
    failed = msg.code_message(broken, "U7")
    assert "*How it failed*" in str(failed["blocks"])
    huge = msg.code_message({**COMPUTED, "code": "x = 1\n" * 3000}, "U7")
    assert all(len(b["text"]["text"]) <= SECTION_CHARS for b in huge["blocks"] if "text" in b)
    assert len(huge["blocks"]) <= 50
