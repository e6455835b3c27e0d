"""The computation path's pure parts: which questions compute, pasted data taken out as
files, the action schemas, and doc figures found in a program."""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel, Field

from agent.actions import action_schema, inline_refs, parse_action
from agent.compute import _figures_from_docs, wants_computation
from agent.pasted import Attachment, looks_like_data, split_pasted
from agent.tooling import Tool, ToolOutput
from tools.search_docs import DocHit

CSV = "ts,latency_ms,status\n1,120,200\n2,340,500\n3,95,200\n4,410,200"


@pytest.mark.parametrize(
    "question",
    [
        "payments-api had 38 minutes of downtime this month; how much error budget is left?",
        "The disk grows 12 GB a day and has 300 GB free: how long until it is full?",
        "convert 1500 requests per minute to requests per second",
        "what is 17 * 23?",
        "A queue has 48,000 messages and drains 350 per second; how many minutes to empty it?",
        "What's the p95 of these latencies?\n" + CSV,
        "服务每天增长 12 GB，剩余 300 GB，还能撑多少天？",
    ],
)
def test_computation_questions_compute(question: str) -> None:
    assert wants_computation(question, [])


@pytest.mark.parametrize(
    "question",
    [
        "How fast must SEV2 pages be acknowledged?",
        "Which port does route-optimizer's gRPC API listen on?",
        "How many carriers does shipment-tracker integrate with?",
        "open a sev2 for notification-service, roughly 1200 customers affected",
        "Who is on call for payments and is it healthy?",
        "What changed in payments-api 2026.11.3?",
    ],
)
def test_lookups_and_actions_do_not(question: str) -> None:
    assert not wants_computation(question, [])


def test_an_attachment_always_computes() -> None:
    assert wants_computation("what does this say?", [Attachment("a.csv", CSV)])


def test_pasted_csv_becomes_a_file_and_the_question_refers_to_it() -> None:
    text, files = split_pasted("What's the p95 latency?\n" + CSV + "\nthanks")
    assert text == "What's the p95 latency?\n[attached: data.csv]\nthanks"
    assert files == [Attachment("data.csv", CSV + "\n")]


def test_fenced_json_and_log_blocks_are_taken_too() -> None:
    log = "\n".join(f"2026-11-02T10:0{i}:00Z GET /pay 500" for i in range(4))
    question = f'count errors:\n```\n{log}\n```\nand in\n```json\n{{"a": [1, 2]}}\n```'
    text, files = split_pasted(question)
    assert [f.name for f in files] == ["data1.log", "data2.json"]
    assert "[attached: data1.log]" in text and "```" not in text


def test_prose_and_lists_are_not_data() -> None:
    assert not looks_like_data(["Steps:", "1. check the graph", "2. roll back"])
    assert split_pasted("what is the SEV2 ack time?") == ("what is the SEV2 ack time?", [])


def test_attachment_names_are_plain() -> None:
    with pytest.raises(ValueError, match="attachment name"):
        Attachment("../../etc/passwd", "x")


class Impact(BaseModel):
    customers: int = Field(ge=0)


class TicketArgs(BaseModel):
    """Open a ticket."""

    title: str
    impact: Impact | None = None


def _run(deps: object, args: object) -> ToolOutput:
    return ToolOutput("ok", [])


def test_action_schema_inlines_nested_models_and_offers_each_tool_once() -> None:
    tool = Tool("create_ticket", TicketArgs, _run)
    schema = action_schema([tool], n_evidence=3)
    text = json.dumps(schema)
    assert "$ref" not in text and "$defs" not in text
    call, answer = schema["anyOf"]
    assert call["properties"]["calls"]["items"]["anyOf"][0]["properties"]["tool"] == {
        "const": "create_ticket"
    }
    assert answer["properties"]["claims"]["items"]["properties"]["source"]["maximum"] == 3
    assert inline_refs({"$defs": {"X": {"type": "integer"}}, "$ref": "#/$defs/X"}) == {
        "type": "integer"
    }


def test_parse_action_keeps_valid_calls_only() -> None:
    tool = Tool("create_ticket", TicketArgs, _run)
    good = {"tool": "create_ticket", "args": {"title": "x", "impact": {"customers": 3}}}
    bad = {"tool": "create_ticket", "args": {"title": "x", "impact": {"customers": -1}}}
    action = parse_action(json.dumps({"action": "call", "calls": [good, bad, good]}), [tool])
    assert action.kind == "call" and [c["args"] for c in action.calls] == [good["args"]]
    assert parse_action('{"action": "answer", "claims": []}', [tool]).kind == "answer"


def test_figures_the_program_took_from_a_passage_are_found() -> None:
    slo = DocHit("c1", "services/payments-api", "", "", "SLOs", None, "Availability 99.95%.", 0, 1)
    other = DocHit("c2", "runbooks/x", "", "", "", None, "Restart after 15 minutes.", 0, 1)
    code = "slo = 0.9995  # from [1]\nminutes = 30 * 24 * 60\nprint((1 - slo) * minutes - 38)"
    found = _figures_from_docs(code, [slo, other], "38 minutes of downtime, budget left?")
    assert found == [(slo, ["0.9995"])]
