"""The chat page in headless Chromium against the real server on loopback (scripted model):
sign in, ask and watch the steps then the checked answer arrive (never the model's JSON),
open a citation, rate the answer, think harder into a write action and approve it. Leaves
test-output/web_chat.png behind."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from oncall.testing.fakes import claims_reply
from oncall.testing.web_support import (
    PASSWORDS,
    TICKET,
    TICKET_OPENED,
    WebRig,
    running_web,
    ticket_call,
)
from tests.conftest import REPO

# The model's claims JSON; its sentence has markdown and markup that must stay text (the
# grounding check keeps it: its facts, SEV2 and 15, are in the quoted passage).
FIRST_ANSWER = claims_reply(
    (1, "SEV2 pages must be acknowledged within 15 minutes",
     "SEV2 pages must be **acknowledged within 15 minutes** by the primary on-call engineer, "
     "never <img src=x onerror=alert(this)> them.")
)  # fmt: skip
SCREENSHOT = REPO / "test-output" / "web_chat.png"


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[WebRig]:
    replies = [FIRST_ANSWER, ticket_call(), TICKET_OPENED]
    with running_web(tmp_path, replies, token_delay_s=0.08) as rig:
        yield rig


@pytest.fixture
def page(browser: Any, rig: WebRig) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("dialog", lambda dialog: errors.append(f"a dialog opened: {dialog.message}"))
    page.goto(rig.url)
    yield page
    context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"


def sign_in(page: Any) -> None:
    page.wait_for_selector("#login-page:not([hidden])")
    page.fill("#login-user", "alice")
    page.fill("#login-password", PASSWORDS["alice"])
    page.click("#login button[type=submit]")
    page.wait_for_selector("#app:not([hidden])")


def test_ask_stream_cite_rate_think_harder_and_approve(page: Any, rig: WebRig) -> None:
    page.wait_for_selector("#login-page:not([hidden])")
    page.fill("#login-user", "alice")
    page.fill("#login-password", "wrong")
    page.click("#login button[type=submit]")
    page.wait_for_selector("#login-error:has-text('wrong password')")
    sign_in(page)
    assert "Alice" in page.inner_text("[data-testid=who]")

    # Ask; every text the answer box shows on the way is kept, to check what was on screen.
    page.evaluate(
        """() => { window.shown = []; new MutationObserver(() => {
          const a = document.querySelector('[data-testid=answer]');
          if (a && a.textContent.trim()) window.shown.push(a.textContent);
        }).observe(document.getElementById('messages'), {subtree: true, childList: true,
                                                        characterData: true}); }"""
    )
    page.fill("#question", "How fast must SEV2 pages be acknowledged?")
    page.keyboard.press("Enter")
    answer = page.locator(".turn").nth(0).locator("[data-testid=answer]")
    page.wait_for_selector(".turn >> nth=0 >> [data-testid=sources]")
    assert "Quick answer from the docs" in page.text_content(
        ".turn >> nth=0 >> [data-testid=steps]"
    )
    shown = page.evaluate("window.shown")
    assert shown and not any("claims" in t or "{" in t for t in shown), "no JSON on screen"
    assert answer.locator("strong").inner_text() == "acknowledged within 15 minutes"
    assert "<img src=x onerror=alert(this)>" in answer.inner_text()
    assert answer.locator("img").count() == 0, "markup from the model stays text"

    # The citation opens the cited passage.
    answer.locator("a.cite").first.click()
    source = page.locator(".turn >> nth=0 >> [data-testid=sources] li").first
    assert source.locator("details").get_attribute("open") is not None
    assert "primary on-call engineer" in source.locator(".snippet").inner_text()
    assert source.locator("a").get_attribute("href").startswith("https://wiki.example.internal")

    # Feedback lands in the turn record.
    page.click(".turn >> nth=0 >> button.up")
    page.wait_for_selector(".turn >> nth=0 >> .thanks:has-text('Thanks')")
    assert rig.agent.recorder is not None
    (turn,) = rig.agent.recorder.turns()
    assert turn["feedback"] is not None and '"helpful": true' in turn["feedback"]

    # Think harder: the DEEP loop wants to open a ticket, which waits for approval.
    page.click(".turn >> nth=0 >> button.deeper")
    approval = page.locator(".turn >> nth=1 >> [data-testid=approval]")
    approval.wait_for()
    assert "create_ticket" in approval.inner_text() and TICKET["title"] in approval.inner_text()
    assert "Searched the docs for" in page.text_content(".turn >> nth=1 >> [data-testid=steps]")
    assert rig.tool_calls == []
    approval.locator("button.approve").click()
    done = page.locator(".turn >> nth=1 >> [data-testid=answer]")
    done.filter(has_text="Opened the ticket").wait_for()
    assert rig.tool_calls == [("create_ticket", TICKET, "alice")]

    # The conversation is listed and reloads from history.
    page.wait_for_selector("[data-testid=conversations] a")
    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    page.reload()
    page.click("[data-testid=conversations] a >> nth=0")
    page.wait_for_selector(".turn >> nth=1 >> [data-testid=sources]")
    assert page.locator(".turn").count() == 2
