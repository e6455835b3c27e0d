"""Attaching a data file in the chat page and reading the computed answer, in headless
Chromium against the real server (scripted model, recording sandbox): a file that is not
text data is refused on the page with a clear message, a CSV is sent with the question,
the answer shows what the program printed and folds the program and its output into a
"Show the code" block, and the page stays accessible (axe). Screenshots go to
test-output/web/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from oncall.testing.fakes import code_reply
from oncall.testing.sandbox_fake import RecordingSandbox
from oncall.testing.web_support import WebRig, running_web
from tests.browser.test_web_layout import open_page, serious_violations, shot, sign_in

CSV = b"service,latency_ms\napi,120\napi,80\nweb,200\nweb,95\napi,110\nweb,130\napi,90\ndb,175\n"
PROGRAM = (
    "import pandas as pd\n# read the attached file by name\ndf = pd.read_csv('latency.csv')\n"
    "print(f'Mean latency: {df.latency_ms.mean():.1f} ms')"
)
PRINTED = "Mean latency: 125.0 ms"


@pytest.fixture
def sandbox() -> RecordingSandbox:
    return RecordingSandbox(PRINTED)


@pytest.fixture
def rig(tmp_path: Path, sandbox: RecordingSandbox) -> Iterator[WebRig]:
    with running_web(tmp_path, [code_reply(PROGRAM)], sandbox=sandbox, max_attachment_kb=2) as rig:
        yield rig


def test_attach_a_csv_and_read_the_computed_answer(
    browser: Any, rig: WebRig, sandbox: RecordingSandbox
) -> None:
    page = open_page(browser, rig, "desktop")
    sign_in(page)
    files = "#attach-input"
    page.set_input_files(files, [{"name": "q3.xlsx", "mimeType": "application/zip",
                                  "buffer": b"PK\x03\x04"}])  # fmt: skip
    page.wait_for_selector("#notice:has-text('q3.xlsx: only text data can be attached')")
    big = {"name": "big.csv", "mimeType": "text/csv", "buffer": b"a,b\n" + b"1,2\n" * 1000}
    page.set_input_files(files, [big])
    page.wait_for_selector("#notice:has-text('big.csv is 3.9 KiB; attachments may total 2 KiB')")
    assert page.locator("#attached li").count() == 0

    page.set_input_files(files, [{"name": "latency.csv", "mimeType": "text/csv", "buffer": CSV}])
    chip = page.locator("#attached li")
    chip.filter(has_text="latency.csv").wait_for()
    assert page.inner_text("#notice") == ""
    assert chip.locator("button").get_attribute("aria-label") == "Remove latency.csv"
    assert serious_violations(page) == [], "a file attached"
    shot(page, "desktop", "attached")
    page.fill("#question", "What is the mean latency in this file?")
    page.keyboard.press("Enter")
    turn = page.locator(".turn").nth(0)
    turn.locator("[data-testid=computation]").wait_for()
    assert page.locator("#attached li").count() == 0, "sent with this question only"
    assert "latency.csv" in turn.locator(".question-files").inner_text()
    assert sandbox.files == {"latency.csv": CSV}
    answer = turn.locator("[data-testid=answer]")
    assert answer.inner_text().startswith(PRINTED)

    code = turn.locator("[data-testid=computation]")
    assert not code.locator("pre").first.is_visible(), "folded until asked for"
    code.locator("summary").click()
    program = code.locator(".code").nth(0)
    assert program.locator("code").inner_text() == PROGRAM
    assert program.locator(".tok-com").inner_text() == "# read the attached file by name"
    assert PRINTED in code.locator(".code").nth(1).inner_text()
    assert "latency.csv" in code.locator("summary").inner_text()
    assert serious_violations(page) == [], "computed answer, code open"
    shot(page, "desktop", "computation")
    assert page.errors == []

    page.reload()  # the history shows the same
    page.locator(".turn >> nth=0 >> [data-testid=computation]").wait_for()
    assert "latency.csv" in page.inner_text(".turn >> nth=0 >> .question-files")
