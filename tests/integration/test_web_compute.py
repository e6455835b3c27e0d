"""Computations in the web API, on the real server over loopback: an uploaded data file
reaches the sandbox as a file, the answer is what the program printed, and the payload
carries the program and its output for the page to show (also in the history); files
that are too large, too many or not text data get a clear 4xx before any model call."""

from __future__ import annotations

import json
from pathlib import Path

from oncall.testing.fakes import code_reply
from oncall.testing.sandbox_fake import RecordingSandbox
from oncall.testing.web_support import running_web
from tests.integration.test_web_api import error_of, signed_in, sse_events

CSV = "service,latency_ms\napi,120\napi,80\nweb,200\nweb,95\napi,110\nweb,130\napi,90\ndb,175\n"
PROGRAM = (
    "import pandas as pd\ndf = pd.read_csv('latency.csv')\n"
    "print(f'Mean latency: {df.latency_ms.mean():.1f} ms')"
)
PRINTED = "Mean latency: 125.0 ms"
QUESTION = "What is the mean latency in this file?"


def test_an_uploaded_file_is_computed_on_and_the_program_comes_back(tmp_path: Path) -> None:
    sandbox = RecordingSandbox(PRINTED)
    with running_web(tmp_path, [code_reply(PROGRAM)], sandbox=sandbox) as rig:
        alice = signed_in(rig)
        assert alice.get("/api/me").json()["max_attachment_kb"] == 256
        body = {"question": QUESTION, "attachments": [{"name": "latency (1).csv", "content": CSV}]}
        with alice.stream("POST", "/api/ask/stream", json=body) as r:
            events = sse_events(r)
        answer = events[-1][1]["answer"]
        assert sandbox.files == {"latency_1.csv": CSV.encode()}, "a plain name, the bytes as sent"
        assert answer["attachments"] == ["latency_1.csv"]
        assert answer["answer"].startswith(PRINTED) and answer["route"] == "deep"
        computation = answer["computation"]
        assert computation["code"] == PROGRAM and computation["ok"] is True
        assert PRINTED in computation["output"] and computation["files"] == ["latency_1.csv"]
        (run,) = answer["citations"]
        assert run["location"].startswith("run_python") and run["url"] is None, "nothing to open"
        prompt = " ".join(str(m.content) for m in rig.model.calls[0])
        assert "latency_1.csv" in prompt and "db,175" not in prompt, "named, never pasted whole"
        tokens = [d["text"] for k, d in events if k == "token"]
        assert "".join(tokens) == answer["answer"] and '{"code"' not in json.dumps(tokens)

        history = alice.get(f"/api/conversations/{answer['thread_id']}").json()["turns"]
        assert history[0]["computation"]["code"] == PROGRAM
        assert history[0]["attachments"] == ["latency_1.csv"]


def test_bad_attachments_get_a_clear_4xx_before_any_model_call(tmp_path: Path) -> None:
    sandbox = RecordingSandbox(PRINTED)
    with running_web(tmp_path, sandbox=sandbox, max_attachment_kb=1) as rig:
        alice = signed_in(rig)
        big = "a,b\n" + "1,2\n" * 600
        cases = [
            ([{"name": "q3.xlsx", "content": "PK"}], 415, "unsupported_attachment",
             "q3.xlsx: only text data can be attached"),
            ([{"name": "big.csv", "content": big}], 413, "attachment_too_large",
             "big.csv is 2.3 KiB; attachments may total 1 KiB per question"),
            ([{"name": f"{i}.csv", "content": "a,b\n"} for i in range(4)], 413,
             "too_many_attachments", "at most 3 per question"),
            ([{"name": "dump.log", "content": "ok\x00binary"}], 415, "unsupported_attachment",
             "dump.log holds binary data"),
        ]  # fmt: skip
        for attachments, status, code, says in cases:
            for path in ("/api/ask", "/api/ask/stream"):
                body = {"question": QUESTION, "attachments": attachments}
                got = error_of(alice.post(path, json=body))
                assert got[:2] == (status, code) and says in got[2], got
        huge = {"question": QUESTION, "attachments": [{"name": "x.csv", "content": "x" * 300_000}]}
        assert error_of(alice.post("/api/ask", json=huge))[:2] == (413, "body_too_large")
        assert rig.model.calls == [] and sandbox.files == {}
        assert alice.get("/api/conversations").json() == {"conversations": []}, "no thread made"


def test_attachments_can_be_switched_off(tmp_path: Path) -> None:
    with running_web(tmp_path, max_attachment_kb=0) as rig:
        alice = signed_in(rig)
        assert alice.get("/api/me").json()["max_attachment_kb"] == 0
        body = {"question": QUESTION, "attachments": [{"name": "a.csv", "content": "a,b\n"}]}
        assert error_of(alice.post("/api/ask", json=body))[:2] == (413, "attachments_disabled")
