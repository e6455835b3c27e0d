"""Shared Slack files downloaded as attachments (bots/slack/files.py), over a mock
transport: the token goes to Slack's file host only, redirects elsewhere are refused, and
the size limit holds even when the event understated the size."""

from __future__ import annotations

import json

import httpx
import pytest

from bots.attachments import AttachmentRefused
from bots.slack.files import SharedFile, SlackFiles, shared_files

URL = "https://files.slack.com/files-pri/T1-F1/download/data.csv"


def downloader(handler: object, max_kb: int = 1) -> tuple[SlackFiles, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)  # type: ignore[operator]

    files = SlackFiles("xoxb-secret", "https://slack.com/api/", max_kb, httpx.MockTransport(record))
    return files, seen


def test_a_text_file_is_fetched_with_the_bot_token() -> None:
    files, seen = downloader(lambda r: httpx.Response(200, content=b"a,b\n1,2\n"))
    (got,) = files.attachments([SharedFile("F1", "data.csv", 8, URL)])
    assert (got.name, got.content) == ("data.csv", "a,b\n1,2\n")
    assert [str(r.url) for r in seen] == [URL]
    assert seen[0].headers["Authorization"] == "Bearer xoxb-secret"


def test_a_redirect_off_slack_is_refused_before_the_token_leaves() -> None:
    def bounce(request: httpx.Request) -> httpx.Response:
        return httpx.Response(302, headers={"Location": "https://evil.example/steal"})

    files, seen = downloader(bounce)
    with pytest.raises(AttachmentRefused) as refused:
        files.attachments([SharedFile("F1", "data.csv", 8, URL)])
    assert "could not download data.csv" in str(refused.value)
    assert "'evil.example' is not one this fetch may visit" in str(refused.value)
    assert [r.url.host for r in seen] == ["files.slack.com"], "nothing sent to evil.example"


def test_an_understated_size_is_caught_while_downloading() -> None:
    files, _ = downloader(lambda r: httpx.Response(200, content=b"1,2\n" * 1000))
    with pytest.raises(AttachmentRefused) as refused:
        files.attachments([SharedFile("F1", "data.csv", 10, URL)])  # the event said 10 bytes
    assert refused.value.code == "attachment_too_large"
    assert "data.csv takes the shared files over 1 KiB" in str(refused.value)


def test_types_and_sizes_are_checked_before_any_download() -> None:
    files, seen = downloader(lambda r: httpx.Response(200, content=b"x"))
    for shared in (SharedFile("F1", "q3.xlsx", 10, URL), SharedFile("F2", "big.csv", 5000, URL)):
        with pytest.raises(AttachmentRefused):
            files.attachments([shared])
    assert seen == []
    with pytest.raises(AttachmentRefused) as gone:
        files.attachments([SharedFile("F3", "x.csv", 1, "")])
    assert "has no download link" in str(gone.value)


def test_event_files_are_read_from_the_payload() -> None:
    first = {"id": "F1", "name": "a.csv", "size": "12", "url_private": URL}
    second = {"id": "F2", "title": "b.log", "url_private_download": URL}
    event = {"files": [first, "junk", second]}
    assert shared_files(event) == (
        SharedFile("F1", "a.csv", 12, URL),
        SharedFile("F2", "b.log", 0, URL),
    )
    assert shared_files({"text": "no files"}) == ()


def test_a_stored_question_keeps_its_files_for_the_worker_that_adopts_it() -> None:
    from bots.slack.question import Question
    from bots.slack.recovery import job_payload, question_from

    asked = Question("C1", "U1", "mean?", "1.0", "1.0", (SharedFile("F1", "a.csv", 3, URL),))
    stored = json.loads(json.dumps(job_payload(asked, "deep")))  # as the app state keeps it
    assert question_from(stored) == (asked, "deep")
