"""`/v1/chat/completions` on the real server: what OpenAI clients send (API key, whole
transcript each time, streaming with usage) gets the agent's cited answer, follow-ups
continue the agent's own conversation, and bad requests get OpenAI-shaped 4xx errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from oncall.testing.fakes import claims_reply
from oncall.testing.web_support import (
    ALICE_API_KEY,
    SEV2_ANSWER,
    SEV2_TEXT,
    running_web,
    ticket_call,
)

QUESTION = "How fast must SEV2 pages be acknowledged?"
AUTH = {"Authorization": f"Bearer {ALICE_API_KEY}"}
ESCALATE = claims_reply(
    (1, "escalate to the secondary after 30 minutes", "Escalate to the secondary after 30 minutes.")
)
STOPS = claims_reply((1, "Stops per route | 120", "At most 120 stops per route."))


def completion(url: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{url}/v1/chat/completions", json=body, headers=AUTH, timeout=30)


def test_completion_answers_with_sources_and_follow_ups_keep_memory(tmp_path: Path) -> None:
    with running_web(tmp_path, [SEV2_ANSWER, ESCALATE]) as rig:
        models = httpx.get(f"{rig.url}/v1/models", headers=AUTH).json()
        assert [m["id"] for m in models["data"]] == ["oncall", "oncall-deep", "oncall-direct"]

        first = [{"role": "system", "content": "be brief"}, {"role": "user", "content": QUESTION}]
        r = completion(rig.url, {"model": "oncall", "messages": first, "temperature": 0.3})
        body = r.json()
        assert r.status_code == 200 and body["object"] == "chat.completion"
        text = body["choices"][0]["message"]["content"]
        assert text.startswith(SEV2_TEXT), "the checked answer, not the model's JSON"
        assert "Sources:\n[1] [runbooks/paging.md › SEV2](https://wiki.example.internal/" in text
        assert body["usage"]["completion_tokens"] > 0

        parts = [{"type": "text", "text": "and when to escalate?"}]
        follow = [
            *first,
            {"role": "assistant", "content": text},
            {"role": "user", "content": parts},
        ]
        again = completion(rig.url, {"model": "oncall", "messages": follow}).json()
        assert again["choices"][0]["message"]["content"].startswith(
            "Escalate to the secondary after 30 minutes [1]."
        )
        prompt = rig.model.calls[-1]
        assert any(QUESTION in str(m.content) for m in prompt[:-1]), "earlier turn in memory"
        assert rig.store.groups_seen[-1] == ["oncall", "public", "sre"], "as alice"


def test_streamed_completion_is_openai_chunks(tmp_path: Path) -> None:
    with running_web(tmp_path, [SEV2_ANSWER], token_delay_s=0.01) as rig:
        body = {"model": "oncall", "stream": True, "stream_options": {"include_usage": True},
                "messages": [{"role": "user", "content": QUESTION}]}  # fmt: skip
        with httpx.stream(
            "POST", f"{rig.url}/v1/chat/completions", json=body, headers=AUTH, timeout=30
        ) as r:
            assert r.headers["content-type"].startswith("text/event-stream")
            data = [line[6:] for line in r.iter_lines() if line.startswith("data: ")]
    assert data[-1] == "[DONE]"
    chunks = [json.loads(d) for d in data[:-1]]
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert len({c["id"] for c in chunks}) == 1
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert deltas[0] == {"role": "assistant", "content": ""}
    # The checked answer arrives whole (the model's claims JSON is never streamed), then
    # the sources footer, then the end.
    contents = [d["content"] for d in deltas[1:] if d.get("content")]
    assert contents[0] == SEV2_TEXT and contents[1].startswith("\n\nSources:\n[1] [runbooks/")
    assert len(contents) == 2 and "claims" not in "".join(contents)
    finishes = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
    assert finishes[-1] == "stop" and finishes.count("stop") == 1
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] > 0


def test_pending_write_is_explained_not_run(tmp_path: Path) -> None:
    with running_web(tmp_path, [ticket_call()]) as rig:
        body = {"model": "oncall-deep", "messages": [{"role": "user", "content": "open a ticket"}]}
        text = completion(rig.url, body).json()["choices"][0]["message"]["content"]
        assert "`create_ticket`" in text and "needs approval" in text
        assert rig.tool_calls == []


def test_bad_requests_get_openai_shaped_errors(tmp_path: Path) -> None:
    with running_web(tmp_path) as rig:
        cases: list[tuple[Any, int, str]] = [
            ({"model": "gpt-4", "messages": [{"role": "user", "content": "hi"}]}, 404,
             "model_not_found"),
            ({"messages": []}, 422, "invalid_request"),
            ({"messages": [{"role": "user", "content": "  "}]}, 400, "invalid_messages"),
            ({"messages": [{"role": "assistant", "content": "hello"}]}, 400, "invalid_messages"),
            ({"messages": [{"role": "wizard", "content": "hi"}]}, 422, "invalid_request"),
        ]  # fmt: skip
        for body, status, code in cases:
            r = completion(rig.url, body)
            assert (r.status_code, r.json()["error"]["code"]) == (status, code), body
            assert r.json()["error"]["message"]
        r = httpx.post(
            f"{rig.url}/v1/chat/completions", content=b"{nope", headers=AUTH | {
                "content-type": "application/json"},
        )  # fmt: skip
        assert (r.status_code, r.json()["error"]["code"]) == (400, "malformed_json")
        wrong_key = {"Authorization": "Bearer not-a-key"}
        r = httpx.post(f"{rig.url}/v1/chat/completions", json=cases[0][0], headers=wrong_key)
        assert (r.status_code, r.json()["error"]["type"]) == (401, "authentication_error")
        assert rig.model.calls == []


def test_sources_are_absolute_links_and_never_server_paths(tmp_path: Path) -> None:
    """A file source is linked through the server's document view (absolute, so any client
    can open it); its path on the server never appears, streamed or not."""
    from oncall.testing.web_support import SERVER_PATH

    question = "How many stops per route may the optimizer plan?"
    with running_web(tmp_path, [STOPS, STOPS], public_url="https://chat.example.com") as rig:
        ask = {"model": "oncall-direct", "messages": [{"role": "user", "content": question}]}
        text = completion(rig.url, ask).json()["choices"][0]["message"]["content"]
        assert text.startswith("At most 120 stops per route [1].")
        assert "[1] [services/route-optimizer › Limits](https://chat.example.com/docs/view/" in text
        with httpx.stream(
            "POST", f"{rig.url}/v1/chat/completions", headers=AUTH, timeout=30,
            json={**ask, "stream": True},
        ) as r:  # fmt: skip
            streamed = "".join(r.iter_text())
        assert "https://chat.example.com/docs/view/" in streamed
        for sent in (text, streamed):
            assert SERVER_PATH not in sent and "/srv/" not in sent
