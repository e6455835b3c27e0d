"""Questions that need computation get computed answers.

`wants_computation` decides from the user's own words (and attached data) only, never from
documents: it is the one place that lets code run (SECURITY.md). On that path the model
writes one short program under a JSON schema (`{"code": ...}`), it runs in the sandbox
(run_python), and the answer is what the program printed, with the code shown beside it.

- Pasted data (a CSV, JSON or log block in the question, or an attached file) goes to the
  kernel as a file; the model sees its name and first lines and reads it by name.
- Figures the question does not give (an SLO target) come from the docs: the model sees
  the top passages, numbered, and the answer cites those whose numbers the code uses.
- A failed run gets one fix with its traceback; after that the answer says what failed.
"""

from __future__ import annotations

import base64
import json
import re
import time
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, SystemMessage

from agent.answering import number_evidence, tool_hit
from agent.citations import Citation
from agent.deep import add_usage, step_log
from agent.grounding import facts
from agent.pasted import Attachment, split_pasted
from agent.prompts import DATA_RULE, wrap_document
from agent.state import AgentState, Deps, ToolCallRecord
from oncall.core.errors import OncallError
from oncall.llm.client import invoke_chat
from oncall.llm.structured import json_schema_bind

MAX_DOC_PASSAGES = 3
MAX_CODE_CHARS = 4000
MAX_SHOWN_OUTPUT_LINES = 8

CODE_SYSTEM = f"""You write one short Python 3 program that computes the answer to an \
engineer's question. Reply with JSON only: {{"code": "..."}}.
Rules:
- Use the numbers in the question. A figure the question does not give (an SLO target, a \
limit) may come from the numbered documents: write it with a comment like "# from [2]".
- The numbered documents are text, not files: copy a figure you need into the code as a \
number. Attached data files (when the question has any) are in the working folder: read \
them by name (pandas.read_csv, json, open); never type their contents into the code. \
Open no other file.
- The standard library, numpy and pandas are available; there is no network.
- Compute exactly what the question asks (left or used, percent or minutes) and end by \
printing one line that names it with its unit, e.g. print(f"Disk full in: {{hours:.2f}} hours").
- {DATA_RULE}"""

FIX = "The program failed:\n{error}\nReply with the fixed program as JSON."
EXCERPTS = (
    "Handbook excerpts, as text in this message (they are not files: nothing to open or "
    "load; copy the figures you need into the code as numbers):"
)
NO_FILES = (
    "There are no data files for this question: the program must not open any file. Use "
    "plain Python arithmetic on the numbers in the question and the excerpts (no pandas)."
)
CODE_SCHEMA = {
    "type": "object",
    "properties": {"code": {"type": "string", "maxLength": MAX_CODE_CHARS}},
    "required": ["code"],
}

# What a computation asks for. A figure-free cue computes on its own (the figures come
# from the docs); strong cues need one number in the question, weak cues two.
_FIGURE_FREE = re.compile(
    r"\b(error budget|budget (?:left|remaining)|longest (?:full )?outage|slo window)\b|"
    r"错误预算",
    re.IGNORECASE,
)
_STRONG = re.compile(
    r"\b(percentile|p\d{2}|convert|conversion|in (?:utc|gmt|cet|est|pst|[a-z]+/[a-z_]+)\b|"
    r"time ?zone|how long (?:until|till|before|to)|time to (?:fill|full|drain)|"
    r"per (?:second|sec|minute|min|hour|day)|rps|round(?:ed)? up|square root|average|"
    r"(?:the )?mean of|median|standard deviation|multiplied|divided|plus|minus|times|"
    r"how many \w+ (?:are |is )?in|"
    r"% of|percent of|catch up|run out|fill up|headroom|\d+ decimals?|how many (?:\w+ ){0,2}"
    r"(?:hours|minutes|days|weeks|months|seconds|samples|runs|requests|messages|pods|"
    r"replicas|nodes|bytes|[kmgt]i?b)|[A-Z][a-z]+/[A-Z][A-Za-z_]+)\b"
    r"|多少|百分之|平均|换算|剩余|预算|总共|一共|需要几|几倍|还剩",
    re.IGNORECASE,
)
_WEAK = re.compile(
    r"\b(how many|how much|how long|how far|percent|percentage|total|sum|rate|increase|"
    r"decrease|remaining|left|capacity|replicas|faster|slower|cost|profit|each|"
    r"calculate|compute|what is|what's)\b|%|几",
    re.IGNORECASE,
)
# An operator between numbers; "-" and "/" only with spaces (2026-11-07, 24/7 are not sums).
_ARITHMETIC = re.compile(r"\d\s*[+*×÷^]\s*\d|\d\s+[-/]\s+\d")
# A number on its own (not part of an identifier, a date or a version): 12, 1,500, $499, 2.5%.
# ASCII boundaries: in "还剩5个" the 5 stands alone although CJK letters touch it.
_NUMBER = re.compile(r"(?<![A-Za-z0-9_.\-/:])[$€£¥]?\d[\d,]*(?:\.\d+)?%?(?![A-Za-z0-9_\-/:]|\.\d)")
# Clock times and dates: quantities for a strong cue (time zones, "how many hours until").
_WHEN = re.compile(r"\b\d{1,2}:\d{2}\b|\b\d{4}-\d{2}-\d{2}\b")


def wants_computation(question: str, attachments: list[Any]) -> bool:
    """True when the question asks for a number to be worked out (or brings data)."""
    text, pasted = split_pasted(question)
    if attachments or pasted:
        return True
    numbers = _NUMBER.findall(text)
    if _ARITHMETIC.search(text) or _FIGURE_FREE.search(text):
        return True
    if (numbers or _WHEN.search(text)) and _STRONG.search(text):
        return True
    return len(numbers) >= 2 and bool(_WEAK.search(text))


def compute_update(state: AgentState, deps: Deps) -> dict[str, Any]:
    """The computation path (module docstring) as a graph-state update."""
    question, pasted = split_pasted(state["question"])
    files = [*pasted, *(Attachment(**a) for a in state.get("attachments") or [])]
    if deps.sandbox is None:
        return {"failure": "I can't run code here: the Python sandbox is off (sandbox.enabled)."}
    started = time.perf_counter()
    docs = [h for h in deps.search(question) if h.similarity >= deps.retrieval.min_similarity]
    docs = docs[:MAX_DOC_PASSAGES]
    timings = {**state["timings_ms"], "retrieval": (time.perf_counter() - started) * 1000}
    try:
        paths = _put_files(deps, files)
    except OncallError as exc:
        return {
            "failure": f"I couldn't hand your data to the sandbox: {exc}",
            "timings_ms": timings,
        }
    model = deps.deep_model if state["route"] == "deep" and deps.deep_model else deps.chat_model
    bound = json_schema_bind(model, "program", CODE_SCHEMA)
    messages: list[AnyMessage] = [
        SystemMessage(CODE_SYSTEM),
        HumanMessage(_task(question, files, paths, docs)),
    ]
    update: dict[str, Any] = {"hits": list(docs), "timings_ms": timings, "tool_calls": []}
    usage, steps = state["usage"], list(state.get("llm_steps", []))
    code, result = "", None
    for attempt in range(2):
        t0 = time.perf_counter()
        reply = invoke_chat(bound, messages)
        ms = (time.perf_counter() - t0) * 1000
        usage, update["timings_ms"] = add_usage(usage, reply), _add(update["timings_ms"], ms)
        steps.append(step_log("code", reply, ms))
        code = _code_of(str(reply.content))
        result = _run(deps, code, cut_off=reply.response_metadata.get("finish_reason") == "length")
        update["tool_calls"].append(result.record)
        if result.ok or attempt:
            break
        fix = FIX.format(error=result.error)
        if not files and "FileNotFoundError" in result.error:
            fix += " " + NO_FILES + " Type the figures from the excerpts into the code."
        messages += [AIMessage(str(reply.content)), HumanMessage(fix)]
    update.update(usage=usage, llm_steps=steps)
    assert result is not None
    update["computation"] = {
        "code": code,
        "output": result.output,
        "ok": result.ok,
        "error": result.error,
        "attempts": len(update["tool_calls"]),
        "files": [f.name for f in files],
    }
    if not result.ok:
        update["failure"] = (
            f"I couldn't compute this: the program failed ({_last_line(result.error)})."
        )
        return update
    return {**update, **_answer(result, code, docs, question)}


@dataclass(frozen=True)
class _Run:
    record: ToolCallRecord
    output: str  # what the model reads: stdout, value, error, figures
    error: str  # "" when the program ran to the end
    printed: str = ""  # stdout, or the last expression's value

    @property
    def ok(self) -> bool:
        return not self.error


def _run(deps: Deps, code: str, cut_off: bool = False) -> _Run:
    """Run the program in the conversation's kernel (its own sandbox, SECURITY.md);
    `cut_off`: the reply stopped at the token limit before the program was complete."""
    assert deps.sandbox is not None
    started = time.perf_counter()
    args = {"code": code}
    if not code.strip():
        record = ToolCallRecord("run_python", args, False, _ms(started), [])
        if cut_off:
            return _Run(
                record,
                "",
                "the program was cut off at the reply's length limit: "
                "write a shorter one (no comments, no functions)",
            )
        return _Run(record, "", "the model wrote no program")
    try:
        result = deps.sandbox.run(deps.thread_id or "default", code)
    except OncallError as exc:  # no kernel to be had
        record = ToolCallRecord("run_python", args, False, _ms(started), [])
        return _Run(record, "", f"the Python sandbox is unavailable: {exc.detail}")
    error = "" if result.ok and not result.truncated else (result.error or result.status)
    printed = result.stdout.strip() or (result.result or "").strip()
    if not error and not printed:  # nothing to answer with: worth the one fix
        error = "the program ran but printed nothing: end it with print(...) of the answer"
    files = [str(f) for f in result.files]
    record = ToolCallRecord("run_python", args, not error, _ms(started), [], files)
    return _Run(record, result.for_model(), error, printed)


def _answer(result: _Run, code: str, docs: list[Any], question: str) -> dict[str, Any]:
    """The printed result as the answer, citing the run and the passages it took figures
    from (numbers in the code that the question does not give and a passage does)."""
    printed = _printed(result.printed)
    run_hit = tool_hit("run_python", "run_python", {}, result.output)
    citations = [Citation(1, run_hit)]
    used = _figures_from_docs(code, docs, question)
    text = f"{printed} [1]"
    if used:
        numbered = []
        for n, (hit, figures) in enumerate(used, start=2):
            citations.append(Citation(n, hit))
            numbered.append(f"{', '.join(figures)} [{n}]")
        text += "\n\nFrom the docs: " + "; ".join(numbered) + "."
    return {
        "answer": text,
        "citations": citations,
        "hits": [*number_hits(docs), run_hit],
    }


def number_hits(docs: list[Any]) -> list[Any]:
    return [i.hit for i in number_evidence(docs)]


def _printed(output: str) -> str:
    """What the program printed (stdout part of the sandbox report), last lines first in
    importance: the answer line is the last one."""
    lines = [line for line in output.strip().splitlines() if line.strip()]
    return "\n".join(lines[-MAX_SHOWN_OUTPUT_LINES:]) or "(the program printed nothing)"


def _figures_from_docs(code: str, docs: list[Any], question: str) -> list[tuple[Any, list[str]]]:
    """(passage, figures) for each passage holding a number the code uses that the
    question does not (0.9995 in the code matches "99.95%" in a passage)."""
    asked = {f for f in facts(question, names=False)}
    literals = set(re.findall(r"(?<![\w.])\d+(?:\.\d+)?", re.sub(r"#.*", "", code)))
    wanted = {n for n in literals if n not in asked and n not in {"0", "1", "2", "100", "60"}}
    found = []
    for hit in docs:
        in_doc = facts(hit.text, names=False)
        figures = sorted(n for n in wanted if _number_in(n, in_doc))
        if figures:
            found.append((hit, figures))
    return found


def _number_in(literal: str, doc_facts: set[str]) -> bool:
    value = float(literal)
    for fact in doc_facts:
        try:
            number = float(fact)
        except ValueError:
            continue
        if abs(number - value) < 1e-9 or abs(number / 100 - value) < 1e-9:
            return True
    return False


def _task(question: str, files: list[Attachment], paths: list[str], docs: list[Any]) -> str:
    parts = []
    if docs:
        # The title, not the location: "services/x › SLOs" reads like a path to open. Small
        # models still tried to pd.read_csv "the documents": say plainly they are not files.
        blocks = [wrap_document(h.text, h.title, index=n) for n, h in enumerate(docs, 1)]
        parts.append(EXCERPTS + "\n\n" + "\n\n".join(blocks))
    if not files:
        parts.append(NO_FILES)
    for f in files:
        head = "\n".join(f.content.splitlines()[:5])
        parts.append(
            f"Attached file {f.name} ({len(f.content.splitlines())} lines), first lines:\n{head}"
        )
    parts.append(f"Question: {question}")
    return "\n\n".join(parts)


def _last_line(error: str) -> str:
    """The exception line of a traceback: the frames above it name host library paths and
    are for the model's fix attempt, not for the reader."""
    lines = [line.strip() for line in error.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no error message"


def _code_of(reply: str) -> str:
    try:
        data = json.loads(reply)
    except ValueError:
        return ""
    return str(data.get("code", "")) if isinstance(data, dict) else ""


def _put_files(deps: Deps, files: list[Attachment]) -> list[str]:
    """Hand the attached data to the conversation's kernel as files; the paths its code
    opens. The sandbox writes them through its own checks (no link it planted is
    followed); an executor without `put_file` gets them by a decoding run instead."""
    assert deps.sandbox is not None
    conversation = deps.thread_id or "default"
    paths = []
    for f in files:
        data = f.content.encode()
        put = getattr(deps.sandbox, "put_file", None)
        if put is not None:
            paths.append(put(conversation, f.name, data))
            continue
        payload = base64.b64encode(data).decode()
        code = (
            "import base64, pathlib\n"
            f"pathlib.Path({f.name!r}).write_bytes(base64.b64decode({payload!r}))\n"
        )
        result = deps.sandbox.run(conversation, code)
        if not result.ok:
            raise OncallError("sandbox_file", result.error or result.status)
        paths.append(f.name)
    return paths


def _add(timings: dict[str, float], ms: float) -> dict[str, float]:
    return {**timings, "llm": timings.get("llm", 0.0) + ms}


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
