"""Answers as checkable claims: one schema-constrained model call, then the grounding check.

The model sees the question and numbered evidence (retrieved passages, tool results) and
replies with JSON only: `{"claims": [{"source": n, "quote": "...", "text": "..."}]}` (the
quote first, so the model copies the supporting words before it writes its sentence). The
server enforces the schema (a llama.cpp grammar, vLLM structured outputs), so the reply
always parses and `source` is always a number it was shown. agent/grounding.py then keeps
the claims their evidence supports; when the model's quotes were not found at all, it is
asked once more, in the same conversation (the prompt prefix is reused), and after that
an answer with no supported claim becomes an abstention.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, SystemMessage

from agent.citations import Citation
from agent.grounding import Claim, Evidence, Grounded, check_claims
from agent.prompts import DATA_RULE, wrap_document, wrap_tool_output
from oncall.llm.client import invoke_chat
from oncall.llm.structured import json_schema_bind, llm_usage
from tools.search_docs import DocHit

MAX_CLAIMS = 3
MAX_QUOTE_CHARS = 240
MAX_TEXT_CHARS = 400

CLAIMS_RULES = f"""Rules:
- Answer only from the numbered sources. Each claim answers one part of the question.
- "source" is the number of the source the claim comes from.
- "quote" copies, word for word, the words of that source that state the fact.
- "text" is one short sentence for the engineer, in the language of the question, with \
numbers, names, commands and settings exactly as in the quote.
- At most {MAX_CLAIMS} claims. If no source answers the question, reply {{"claims": []}}.
- {DATA_RULE}"""

ANSWER_SYSTEM = f"""You are an on-call assistant for an engineering team. You answer an \
engineer's question from numbered sources and reply with JSON only, in this form:
{{"claims": [{{"source": 1, "quote": "...", "text": "..."}}]}}
{CLAIMS_RULES}"""

RETRY = (
    "None of those quotes appears in the source it names. Copy the quote exactly from one "
    'source, or reply {"claims": []} if no source answers the question.'
)


@dataclass
class EvidenceItem:
    """One numbered piece of evidence and what a citation of it shows the user."""

    evidence: Evidence
    hit: DocHit  # a retrieved chunk, or a tool result dressed as one (`tool_hit`)


@dataclass
class Attempt:
    """What one answering call cost, for timings, token accounting and --explain."""

    reply: AIMessage
    ms: float
    claims: list[Claim]


@dataclass
class Outcome:
    grounded: Grounded
    attempts: list[Attempt] = field(default_factory=list)
    messages: list[AnyMessage] = field(default_factory=list)


def claims_schema(n_sources: int) -> dict[str, Any]:
    """JSON schema of a claims reply over sources 1..n_sources."""
    return {
        "type": "object",
        "properties": {
            "claims": {
                "type": "array",
                "maxItems": MAX_CLAIMS,
                "items": {
                    "type": "object",
                    "properties": {
                        "source": {"type": "integer", "minimum": 1, "maximum": max(1, n_sources)},
                        "quote": {"type": "string", "maxLength": MAX_QUOTE_CHARS},
                        "text": {"type": "string", "maxLength": MAX_TEXT_CHARS},
                    },
                    "required": ["source", "quote", "text"],
                },
            }
        },
        "required": ["claims"],
    }


def tool_hit(call_id: str, name: str, args: dict[str, Any], output: str) -> DocHit:
    """A tool result as a citable item: its location says which call produced it."""
    shown = ", ".join(f"{k}={v}" for k, v in args.items())
    return DocHit(
        chunk_id=f"tool:{call_id}",
        doc_id=name,
        source="",
        title=name,
        section=shown,
        page=None,
        text=output,
        score=0.0,
        similarity=1.0,
    )


def number_evidence(hits: Sequence[DocHit]) -> list[EvidenceItem]:
    """Evidence 1..n in the order given; tool results (chunk ids `tool:...`) are marked so."""
    items = []
    for n, hit in enumerate(hits, start=1):
        kind = "tool" if hit.chunk_id.startswith("tool:") else "doc"
        items.append(EvidenceItem(Evidence(n, hit.text, hit.location, kind), hit))
    return items


def format_evidence(items: Sequence[EvidenceItem], limit: int | None = None) -> str:
    """Tagged, numbered data blocks (never instructions; agent/prompts.py)."""
    blocks = []
    for item in items:
        e = item.evidence
        if e.kind == "tool":
            blocks.append(wrap_tool_output(e.title, e.text, limit, index=e.number))
        else:
            blocks.append(wrap_document(e.text, e.title, index=e.number))
    return "\n\n".join(blocks)


def answer_with_claims(
    model: Any,
    question: str,
    items: Sequence[EvidenceItem],
    history: Sequence[AnyMessage] = (),
    system: str = ANSWER_SYSTEM,
) -> Outcome:
    """Ask for claims over `items`, check them, ask once more if no quote was found."""
    evidence = [i.evidence for i in items]
    bound = json_schema_bind(model, "answer_claims", claims_schema(len(items)))
    messages: list[AnyMessage] = [
        SystemMessage(system),
        *history,
        HumanMessage(f"{format_evidence(items)}\n\nQuestion: {question}"),
    ]
    outcome = Outcome(Grounded(), messages=messages)
    for attempt in range(2):
        reply, ms = _timed(bound, messages)
        claims = parse_claims(str(reply.content))
        outcome.attempts.append(Attempt(reply, ms, claims))
        outcome.grounded = check_claims(claims, evidence, question)
        messages = [*messages, AIMessage(str(reply.content))]
        lost_quotes = claims and all("quote" in v.reason for v in outcome.grounded.dropped)
        if outcome.grounded.supported or not lost_quotes or attempt:
            break
        messages = [*messages, HumanMessage(RETRY)]
    outcome.messages = messages
    return outcome


def parse_claims(text: str) -> list[Claim]:
    """Claims from a reply; anything that is not a well-formed claim is skipped (the server
    enforces the schema, but a model behind a server without structured output may not).
    A reply that is prose, not JSON, is read as one claim per sentence (`claims_from_text`)."""
    try:
        data = json.loads(_json_part(text))
    except ValueError:
        return claims_from_text(text)
    raw = data.get("claims", []) if isinstance(data, dict) else []
    claims = []
    for item in raw if isinstance(raw, list) else []:
        if not isinstance(item, dict):
            continue
        try:
            source = int(item.get("source", 0))
        except (TypeError, ValueError):
            continue
        claims.append(Claim(source, str(item.get("quote", "")), str(item.get("text", ""))))
    return claims[:MAX_CLAIMS]


_MARKER = re.compile(r"[\[【]\s*(\d+)(?:\s*[,，]\s*\d+)*\s*[\]】]")
_SENTENCE = re.compile(r"(?<=[^\s\d][.!?])\s+|(?<=[。！？])|\n+")


def claims_from_text(text: str) -> list[Claim]:
    """A prose answer as unquoted claims, one per sentence, each citing its first [n]
    marker (0 when it has none: any evidence may support it). Checked more loosely than
    quoted claims: the sentence's facts must be somewhere in the evidence it names."""
    claims = []
    for sentence in _SENTENCE.split(text.strip()):
        marker = _MARKER.search(sentence)
        # "dashboards [2]." -> "dashboards." (no space left before the punctuation)
        plain = re.sub(r"\s+([.,;:!?。，；：！？])", r"\1", _MARKER.sub("", sentence)).strip()
        if plain:
            claims.append(Claim(int(marker.group(1)) if marker else 0, "", plain, quoted=False))
    return claims


def _json_part(text: str) -> str:
    """The JSON object in a reply (a server without structured output may fence it)."""
    fenced = re.search(r"```(?:json)?\s*(\{.*\})\s*```", text, re.DOTALL)
    return fenced.group(1) if fenced else text.strip()


def render(grounded: Grounded, items: Sequence[EvidenceItem]) -> tuple[str, list[Citation]]:
    """The kept claims as the answer text, each sentence marked with its evidence, numbered
    1..n in the order they first appear; the citations in the same order."""
    hit_of = {i.evidence.number: i.hit for i in items}
    numbers: dict[int, int] = {}
    sentences = []
    for verdict in grounded.kept:
        assert verdict.evidence is not None
        original = verdict.evidence.number
        shown = numbers.setdefault(original, len(numbers) + 1)
        sentence = verdict.claim.text.strip()
        if sentence not in sentences:  # a repeated claim reads as a stutter
            sentences.append(_mark(sentence, shown))
    citations = [Citation(shown, hit_of[original]) for original, shown in numbers.items()]
    return " ".join(dict.fromkeys(sentences)), citations


def _mark(sentence: str, n: int) -> str:
    """`[n]` before the sentence's final punctuation, as a person would place it."""
    sentence = re.sub(r"\s*\[\d+\]", "", sentence).rstrip()
    if sentence and sentence[-1] in ".!?。！？":
        return f"{sentence[:-1]} [{n}]{sentence[-1]}"
    return f"{sentence} [{n}]."


def _timed(model: Any, messages: Sequence[AnyMessage]) -> tuple[AIMessage, float]:
    import time

    started = time.perf_counter()
    reply = invoke_chat(model, messages)
    return reply, (time.perf_counter() - started) * 1000


__all__ = [
    "ANSWER_SYSTEM",
    "Attempt",
    "EvidenceItem",
    "Outcome",
    "answer_with_claims",
    "claims_schema",
    "format_evidence",
    "llm_usage",
    "number_evidence",
    "parse_claims",
    "render",
    "tool_hit",
]
