"""Stop, the document view behind citation links, and example questions, on the real
server over loopback: a stopped turn ends with `cancelled` and records nothing; a document
is readable only by users its ACL admits (others get the same 404 as for nothing at all),
keys are index ids (paths and traversal get nowhere), and no server path reaches a client."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import httpx

from bots.web.links import view_url
from oncall.testing.fakes import claims_reply
from oncall.testing.web_support import SERVER_PATH, SEV2_ANSWER, SEV2_TEXT, running_web
from tests.integration.test_web_api import error_of, signed_in

STOPS = "How many stops per route may the optimizer plan?"
STOPS_ANSWER = claims_reply((1, "Stops per route | 120", "At most 120 stops per route."))


def test_stop_cancels_the_streamed_turn_on_the_server(tmp_path: Path) -> None:
    """The model writes a long answer (claims JSON, never streamed: 800 words, 16 s at this
    pace); Stop while it is generating ends the turn within seconds, records nothing."""
    quote = "SEV2 pages must be acknowledged within 15 minutes"
    long_answer = claims_reply((1, quote, " ".join(["word"] * 800)))
    with running_web(tmp_path, [long_answer, SEV2_ANSWER], token_delay_s=0.02) as rig:
        alice = signed_in(rig)
        events: list[tuple[str, dict]] = []

        def ask() -> None:
            with alice.stream("POST", "/api/ask/stream", json={"question": "Tell me"}) as r:
                kind = ""
                for line in r.iter_lines():  # as they come, not at the end
                    if line.startswith("event: "):
                        kind = line[7:]
                    elif line.startswith("data: "):
                        events.append((kind, json.loads(line[6:])))

        worker = threading.Thread(target=ask)
        worker.start()
        deadline = time.monotonic() + 20
        while not rig.model.calls and time.monotonic() < deadline:  # the model is writing
            time.sleep(0.05)
        time.sleep(0.3)
        thread_id = events[0][1]["thread_id"]
        other = signed_in(rig, "bob")
        assert error_of(other.post(f"/api/conversations/{thread_id}/stop"))[0] == 404
        stopped_at = time.monotonic()
        assert alice.post(f"/api/conversations/{thread_id}/stop").json() == {"stopped": True}
        worker.join(15)
        assert time.monotonic() - stopped_at < 5, "the model stopped early"
        kinds = [k for k, _ in events]
        assert kinds[-1] == "cancelled" and "answer" not in kinds and "token" not in kinds
        assert rig.model.replies == [SEV2_ANSWER], "the long reply was taken, then cut"
        assert rig.agent.recorder is not None and rig.agent.recorder.turns() == []
        assert alice.post(f"/api/conversations/{thread_id}/stop").json() == {"stopped": False}
        follow = alice.post("/api/ask", json={"question": "SEV2?", "thread_id": thread_id})
        assert follow.json()["answer"] == SEV2_TEXT, "the conversation goes on"


def test_citation_opens_the_document_view_for_those_allowed(tmp_path: Path) -> None:
    with running_web(tmp_path, [STOPS_ANSWER]) as rig:
        alice = signed_in(rig)
        answer = alice.post("/api/ask", json={"question": STOPS}).json()
        assert answer["answer"] == "At most 120 stops per route [1]."
        raw = json.dumps(answer)
        assert SERVER_PATH not in raw and "/srv/" not in raw
        (cite,) = answer["citations"]
        url = httpx.URL(cite["url"])
        key, chunk = url.path.rsplit("/", 1)[1], url.params["chunk"]
        page = alice.get(url.path)
        assert page.status_code == 200 and "doc.js" in page.text
        doc = alice.get(f"/api/docs/{key}", params={"chunk": chunk}).json()
        assert doc["title"] == "route-optimizer" and doc["location"] == "services/route-optimizer"
        assert [c["section"] for c in doc["chunks"]] == ["What it does", "Limits"]
        assert doc["chunks"][doc["highlight"]]["id"] == chunk and not doc["stale"]
        assert "/srv/" not in json.dumps(doc) and doc["url"] is None
        stale = alice.get(f"/api/docs/{key}", params={"chunk": "gone"}).json()
        assert stale["highlight"] is None and stale["stale"]
        history = alice.get(f"/api/conversations/{answer['thread_id']}").json()
        assert "/srv/" not in json.dumps(history)


def test_documents_follow_the_search_acl_and_keys_are_not_paths(tmp_path: Path) -> None:
    with running_web(tmp_path) as rig:
        payments = view_url("/docs/teams/payments/deploys.md").rsplit("/", 1)[1]
        bob, alice = signed_in(rig, "bob"), signed_in(rig, "alice")
        assert bob.get(f"/api/docs/{payments}").json()["title"] == "Payments deploys"
        refused = error_of(alice.get(f"/api/docs/{payments}"))
        missing = error_of(alice.get("/api/docs/00000000-0000-0000-0000-000000000000"))
        assert refused[:2] == missing[:2] == (404, "document_not_found")
        for probe in ["..%2F..%2Fetc%2Fpasswd", "%2Fetc%2Fpasswd", "runbooks%2Fpaging.md", "x"]:
            assert alice.get(f"/api/docs/{probe}").status_code == 404
        assert httpx.get(f"{rig.url}/api/docs/{payments}").status_code == 401


def test_example_questions_come_from_documents_the_user_may_read(tmp_path: Path) -> None:
    with running_web(tmp_path) as rig:
        alice = signed_in(rig).get("/api/examples").json()["questions"]
        bob = signed_in(rig, "bob").get("/api/examples").json()["questions"]
        assert "Tell me about limits in route-optimizer" in alice
        assert not any("Payments" in q for q in alice), "alice may not read the payments doc"
        assert any("Payments deploys" in q for q in bob)
    with running_web(tmp_path / "b", example_questions=["Who is on call?"]) as rig:
        assert signed_in(rig).get("/api/examples").json() == {"questions": ["Who is on call?"]}


def test_favicon_is_served(tmp_path: Path) -> None:
    with running_web(tmp_path) as rig:
        icon = httpx.get(f"{rig.url}/favicon.ico")
        assert icon.status_code == 200 and icon.content[:4] == b"\x00\x00\x01\x00"
