"""Computations and shared files in Slack, end to end through the real bolt app and the
fake Slack Web API: a CSV shared with the question reaches the sandbox as a file
(downloaded with the bot token from the file's private URL), the answer is what the
program printed, "Show code" posts the program and its output in the thread once, files
that are not text data, too large, or hosted elsewhere are refused with a notice before
any model call, and file citations open the web chat's document view when its URL is set."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bots.doclinks import view_url
from bots.slack import messages as msg
from ingest.store import chunk_point_id
from oncall.testing.fake_slack import BOT_TOKEN, mention_event
from oncall.testing.fakes import FakeStore, claims_reply, code_reply
from oncall.testing.sandbox_fake import RecordingSandbox
from tests.integration.test_slack_bot import harness

CSV = b"service,latency_ms\napi,120\napi,80\nweb,200\nweb,95\napi,110\nweb,130\napi,90\ndb,175\n"
PROGRAM = (
    "import pandas as pd\ndf = pd.read_csv('latency.csv')\n"
    "print(f'Mean latency: {df.latency_ms.mean():.1f} ms')"
)
PRINTED = "Mean latency: 125.0 ms"


def file_event(fake: Any, text: str, ts: str, *files: dict[str, Any]) -> dict[str, Any]:
    """A direct message with files, as Slack sends a `file_share` message."""
    return {"type": "message", "subtype": "file_share", "channel_type": "im", "user": "U1",
            "channel": "D1", "text": text, "ts": ts, "files": list(files)}  # fmt: skip


def test_a_shared_csv_is_computed_on_and_the_code_is_shown_once(tmp_path: Path) -> None:
    sandbox = RecordingSandbox(PRINTED)
    with harness(tmp_path, [code_reply(PROGRAM)], sandbox=sandbox) as h:
        shared = h.fake.share_file("latency.csv", CSV, "text/csv")
        h.send(file_event(h.fake, "what is the mean latency in this file?", "400.1", shared), "E1")
        h.settle(1)
        assert sandbox.files == {"latency.csv": CSV}, "the file reached the sandbox as is"
        assert sandbox.ran == [PROGRAM]
        assert h.fake.downloads == [(shared["id"], f"Bearer {BOT_TOKEN}")]
        prompt = " ".join(str(m.content) for m in h.model.calls[0])
        assert "latency.csv" in prompt and "db,175" not in prompt, "named, not pasted whole"

        [answer] = h.thread("400.1", "D1")
        assert answer["blocks"][0]["text"]["text"].startswith(PRINTED)
        blocks = str(answer["blocks"])
        assert "Computed by a Python program run in the sandbox on `latency.csv`" in blocks
        assert "read_csv" not in blocks, "the code is folded away until asked for"

        h.click(msg.SHOW_CODE, answer)
        h.click(msg.SHOW_CODE, answer)  # a second click posts nothing more
        h.settle(3)
        thread = h.thread("400.1", "D1")
        assert len(thread) == 2
        shown = "\n".join(b["text"]["text"] for b in thread[1]["blocks"] if b["type"] == "section")
        assert shown.startswith("*The program* (Python, run in the sandbox)")
        assert "```\nimport pandas as pd\ndf = pd.read_csv('latency.csv')" in shown
        assert shown.endswith(f"*What it printed*\n\n```\nstdout:\n{PRINTED}\n```")
        told = [c.args["text"] for c in h.fake.called("chat.postEphemeral")]
        assert told == ["The code is already in this thread."]


def test_files_that_are_not_text_data_or_too_large_are_refused_before_any_work(
    tmp_path: Path,
) -> None:
    sandbox = RecordingSandbox(PRINTED)
    with harness(tmp_path, [], sandbox=sandbox, max_attachment_kb=1) as h:
        sheet = h.fake.share_file("q3.xlsx", b"PK\x03\x04...", "application/vnd.ms-excel")
        big = h.fake.share_file("big.csv", b"a,b\n" + b"1,2\n" * 600, "text/csv")
        binary = h.fake.share_file("dump.log", b"\x00\x01\x02 not text", "text/plain")
        elsewhere = {**h.fake.share_file("x.csv", CSV), "url_private_download":
                     "http://169.254.169.254/latest/meta-data/x.csv"}  # fmt: skip
        h.send(file_event(h.fake, "sum the sheet", "401.1", sheet), "E2")
        h.send(file_event(h.fake, "p95 of this?", "401.2", big), "E3")
        h.send(file_event(h.fake, "errors per hour?", "401.3", binary), "E4")
        h.send(file_event(h.fake, "mean of this?", "401.4", elsewhere), "E5")
        h.settle(4)
        said = {ts: h.thread(ts, "D1")[0]["text"] for ts in ("401.1", "401.2", "401.3", "401.4")}
        assert "q3.xlsx: only text data can be attached" in said["401.1"]
        assert "big.csv is 2.3 KiB; attachments may total 1 KiB" in said["401.2"]
        assert "dump.log holds binary data" in said["401.3"]
        assert "could not download x.csv" in said["401.4"] and "not one this fetch" in said["401.4"]
        assert h.model.calls == [] and sandbox.ran == [] and sandbox.files == {}
        assert [d[0] for d in h.fake.downloads] == [binary["id"]], "only the text file in budget"


def test_file_citations_open_the_web_document_view(tmp_path: Path) -> None:
    quote = "kubectl rollout restart deployment/payments-api"
    reply = claims_reply(
        (1, quote, f"Run `{quote}`."),
        (2, "Grafana dashboards for latency", "Then watch the Grafana dashboards."),
    )
    with harness(tmp_path, [reply], web_url="https://chat.example.com") as h:
        h.send(mention_event("how do I restart the payments api?", "402.1"), "E6")
        h.settle(1)
        [answer] = h.thread("402.1")
        text = answer["blocks"][0]["text"]["text"]
        payments = chunk_point_id("/docs/runbooks/payments.md", FakeStore.VERSION, 0)
        doc_view = "https://chat.example.com" + view_url("/docs/runbooks/payments.md", payments)
        assert f"<{doc_view}|[1]>" in text, text
        assert "<https://wiki.example.com/dashboards|[2]>" in text, "URL sources link to themselves"
        sources = answer["blocks"][1]["text"]["text"]
        assert f"[1] <{doc_view}|Payments runbook › Restart>" in sources
        assert "docs.example.com" not in str(answer["blocks"]), "the web view wins"
