"""Slack and Confluence JSON exports: detected by shape, turned into titled sections."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from ingest.chunking import chunk_blocks
from ingest.formats.base import Block, PartitionError
from ingest.formats.exports import partition_json, storage_to_html

T0 = 1788426840.0  # 2026-09-03 09:14:00 UTC


def fake_html(html: str) -> list[Block]:
    """Stand-in for unstructured's HTML partitioner: <h2> -> title depth 1, <p>/<pre> -> text."""
    blocks = []
    for tag, body in re.findall(r"<(h2|p|pre)>(.*?)</\1>", html, re.DOTALL):
        blocks.append(Block("title", body, depth=1) if tag == "h2" else Block("text", body))
    return blocks


def msg(minute: int, user: str, text: str, thread: float | None = None, **extra: object) -> dict:
    m: dict = {"type": "message", "user": user, "text": text, "ts": f"{T0 + 60 * minute:.6f}"}
    if thread is not None:
        m["thread_ts"] = f"{thread:.6f}"
    m.update(extra)
    return m


def partition(path: Path, data: object) -> list[Block]:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(data)
    path.write_text(text)
    return partition_json(path, text, fake_html)


SLACK_DAY = [
    msg(-30, "U2", "<@U2> has joined the channel", subtype="channel_join"),
    msg(0, "U1", "PaymentsPspErrorRate fired: 7% of Kestrel calls failing", thread=T0),
    msg(2, "U2", "Called the hotline, case is P1 &amp; first response within 15 min", thread=T0),
    msg(
        5,
        "U1",
        "See <https://status.kestrel.example|Kestrel status> and ping <#C9|oncall-platform>",
    ),
    msg(3, "U3", "<!here> thanks <@U1>", thread=T0),
    msg(6, "U2", "late reply to yesterday", thread=T0 - 86400),
]


def test_slack_channel_day_file_groups_threads(tmp_path: Path) -> None:
    export = tmp_path / "export"
    (export / "users.json").parent.mkdir(parents=True)
    users = [{"id": "U1", "name": "pay1", "profile": {"display_name": "payments-primary"}}]
    (export / "users.json").write_text(json.dumps(users))
    blocks = partition(export / "oncall-payments" / "2026-09-03.json", SLACK_DAY)
    chunks = chunk_blocks(blocks)
    paths = [c.section_path for c in chunks]
    assert blocks[0] == Block("title", "Slack #oncall-payments, 2026-09-03", depth=0)
    assert paths[0].startswith(
        "Slack #oncall-payments, 2026-09-03 > Thread 09:14 UTC: PaymentsPspErrorRate"
    )
    thread = chunks[0].text
    assert (
        thread.splitlines()[0]
        == "[09:14] payments-primary: PaymentsPspErrorRate fired: 7% of Kestrel calls failing"
    )
    assert "[09:16] U2: Called the hotline, case is P1 & first response within 15 min" in thread
    assert "[09:17] U3: @here thanks @payments-primary" in thread  # ordered by ts, ids resolved
    assert "has joined" not in " ".join(c.text for c in chunks)
    assert any("Kestrel status (https://status.kestrel.example)" in c.text for c in chunks)
    assert any("#oncall-platform" in c.text for c in chunks)
    assert any(p.endswith("Replies to the thread of 2026-09-02 09:14 UTC") for p in paths)


def test_slack_names_from_user_profiles_and_api_shape(tmp_path: Path) -> None:
    messages = [msg(0, "U7", "hello <@U7>", user_profile={"display_name": "ic-oncall"})]
    blocks = partition(tmp_path / "thread.json", {"channel": "#incidents", "messages": messages})
    assert blocks[0].text.startswith("Slack #incidents, ")
    assert blocks[-1].text == "[09:14] ic-oncall: hello @ic-oncall"


def test_slack_files_only_message_is_kept(tmp_path: Path) -> None:
    messages = [{"ts": f"{T0:.6f}", "user": "U1", "text": "", "files": [{"name": "lag.png"}]}]
    blocks = partition(tmp_path / "c" / "2026-09-03.json", messages)
    assert blocks[-1].text == "[09:14] U1: [files: lag.png]"


def test_slack_export_metadata_files(tmp_path: Path) -> None:
    with pytest.raises(PartitionError, match=r"users.json.*not indexed"):
        partition(tmp_path / "users.json", [{"id": "U1", "name": "a", "profile": {}}])
    channels = [
        {"id": "C1", "name": "oncall-payments", "purpose": {"value": "Payments on-call"}},
        {"id": "C2", "name": "random", "purpose": {"value": ""}, "topic": {"value": ""}},
    ]
    blocks = partition(tmp_path / "channels.json", channels)
    assert blocks[-1].text == "#oncall-payments: Payments on-call\n#random"


def test_slack_with_only_joins_has_nothing_to_index(tmp_path: Path) -> None:
    with pytest.raises(PartitionError, match=r"no messages with text"):
        partition(tmp_path / "c" / "2026-09-03.json", SLACK_DAY[:1])


PAGE = {
    "id": "1",
    "type": "page",
    "title": "Carrier integration checklist",
    "space": {"key": "TRK", "name": "Tracking"},
    "ancestors": [{"title": "Tracking home"}, {"title": "Carrier integrations"}],
    "version": {"number": 12, "when": "2026-08-21"},
    "body": {
        "storage": {
            "value": "<p>Intro.</p><h2>Testing</h2><p>Shadow mode for 14 days.</p>"
            '<ac:structured-macro ac:name="code"><ac:parameter ac:name="language">bash'
            "</ac:parameter><ac:plain-text-body><![CDATA[lfctl flags set x <y>=true]]>"
            "</ac:plain-text-body></ac:structured-macro>",
            "representation": "storage",
        }
    },
}


def test_confluence_page_title_breadcrumb_and_sections(tmp_path: Path) -> None:
    blocks = partition(tmp_path / "page.json", PAGE)
    assert blocks[0] == Block("title", "Carrier integration checklist", depth=0)
    assert blocks[1].text == (
        "Confluence page: Tracking (TRK) > Tracking home > Carrier integrations > "
        "Carrier integration checklist (version 12, 2026-08-21)"
    )
    chunks = chunk_blocks(blocks)
    testing = [c for c in chunks if c.section_path == "Carrier integration checklist > Testing"]
    assert testing and "Shadow mode for 14 days." in testing[0].text
    assert "lfctl flags set x &lt;y&gt;=true" in testing[0].text  # code macro kept (escaped)
    assert "bash" not in testing[0].text  # macro parameters dropped


def test_confluence_search_results_shape_and_view_body(tmp_path: Path) -> None:
    other = {"title": "Second", "body": {"view": {"value": "<p>Rendered view.</p>"}}}
    blocks = partition(tmp_path / "pages.json", {"results": [PAGE, other]})
    titles = [b.text for b in blocks if b.kind == "title" and b.depth == 0]
    assert titles == ["Carrier integration checklist", "Second"]
    assert blocks[-1].text == "Rendered view."


def test_storage_to_html_keeps_linked_page_titles() -> None:
    html = storage_to_html(
        '<p>see <ac:link><ri:page ri:content-title="Carrier contacts" /></ac:link></p>'
    )
    assert "see <ac:link>Carrier contacts</ac:link>" in html


@pytest.mark.parametrize(
    "data",
    [
        {"name": "oncall-agent", "version": "1.0"},  # package.json-like
        [1, 2, 3],
        [],
        {"title": "no body"},
        {"results": []},
        [{"ts": "1", "reactions": []}],  # ts but no text or files
    ],
)
def test_unknown_json_is_refused_with_a_reason(tmp_path: Path, data: object) -> None:
    with pytest.raises(PartitionError, match=r"neither a Slack export .* nor a Confluence page"):
        partition(tmp_path / "x.json", data)


def test_invalid_json_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    with pytest.raises(PartitionError, match=r"invalid JSON .* line 2"):
        partition_json(path, '{"a": 1,\n oops}', fake_html)
