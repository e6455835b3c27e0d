"""The chat page at a desktop (1280x800) and a phone (390x844) viewport: no horizontal
overflow, the input stays on screen after 20 turns (the message pane scrolls, not the
page), live steps before the answer, Stop, the citation link opening the document view at
the passage, dark mode, keyboard-only use, the markdown renderer's subset and safety, and
axe-core (no serious or critical violations on the login, empty and answered pages).
Screenshots of each state go to test-output/web/ on every run."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from oncall.testing.fakes import claims_reply
from oncall.testing.web_support import PASSWORDS, SERVER_PATH, WebRig, running_web
from tests.conftest import REPO

SHOTS = REPO / "test-output" / "web"
VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
STOPS = "How many stops per route may the optimizer plan?"
# The model's claims (agent/answering.py): the limits table, then the nightly batch.
STOPS_ANSWER = claims_reply(
    (1, "Stops per route | 120", "The optimizer plans **at most 120 stops** per route."),
    (2, "plans every delivery route in a nightly batch",
     "It plans every delivery route in a nightly batch."),
)  # fmt: skip
STOPS_TEXT = (
    "The optimizer plans **at most 120 stops** per route [1]. "
    "It plans every delivery route in a nightly batch [2]."
)
# 400 words: about 12 s of generation at the rig's pace (never streamed: it is JSON).
LONG_ANSWER = claims_reply(
    (1, "plans every delivery route", " ".join(["The optimizer keeps planning words"] * 80))
)
FILLER = claims_reply(
    (1, "plans every delivery route in a nightly batch", "Routes are planned in a nightly batch.")
)


@pytest.fixture(params=list(VIEWPORTS))
def viewport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[WebRig]:
    with running_web(tmp_path, [STOPS_ANSWER], token_delay_s=0.03, default_reply=FILLER) as rig:
        yield rig


def open_page(browser: Any, rig: WebRig, viewport: str, scheme: str = "light") -> Any:
    context = browser.new_context(viewport=VIEWPORTS[viewport], color_scheme=scheme)
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    page.goto(rig.url)
    return page


def sign_in(page: Any) -> None:
    page.wait_for_selector("#login-page:not([hidden])")
    page.fill("#login-user", "alice")
    page.fill("#login-password", PASSWORDS["alice"])
    page.click("#login button[type=submit]")
    page.wait_for_selector("#app:not([hidden])")


def shot(page: Any, viewport: str, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{viewport}-{name}.png"))


def no_horizontal_overflow(page: Any) -> None:
    widths = page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth,"
        " document.getElementById('messages').scrollWidth,"
        " document.getElementById('messages').clientWidth]"
    )
    assert widths[0] <= widths[1] and widths[2] <= widths[3], f"horizontal overflow: {widths}"


def in_viewport(page: Any, selector: str) -> bool:
    box = page.locator(selector).bounding_box()
    size = page.viewport_size
    return bool(box) and box["y"] >= 0 and box["y"] + box["height"] <= size["height"]


def serious_violations(page: Any) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def test_ask_with_live_steps_cite_open_the_source_and_stay_accessible(
    browser: Any, rig: WebRig, viewport: str
) -> None:
    page = open_page(browser, rig, viewport)
    page.wait_for_selector("#login-page:not([hidden])")
    assert serious_violations(page) == [], "login page"
    shot(page, viewport, "login")
    sign_in(page)
    page.wait_for_selector("#examples button")
    assert "Tell me about limits in route-optimizer" in page.inner_text("#examples")
    no_horizontal_overflow(page)
    assert serious_violations(page) == [], "empty page"
    shot(page, viewport, "empty")

    # Record when the first step and the first answer text appear.
    page.evaluate(
        """() => { window.seen = {}; new MutationObserver(() => {
          const t = performance.now();
          if (!seen.step && document.querySelector('.step-list li')) seen.step = t;
          const a = document.querySelector('[data-testid=answer]');
          if (!seen.answer && a && a.textContent.trim()) seen.answer = t;
        }).observe(document.getElementById('messages'), {subtree: true, childList: true,
                                                        characterData: true}); }"""
    )
    page.fill("#question", STOPS)
    page.keyboard.press("Enter")
    page.locator("#stop").wait_for()
    sources = page.locator(".turn >> nth=0 >> [data-testid=sources]")
    sources.wait_for()
    seen = page.evaluate("window.seen")
    assert seen["step"] < seen["answer"], "steps appear before the answer"
    steps = page.text_content(".turn >> nth=0 >> [data-testid=steps]")
    assert f"Searched the docs for “{STOPS}”" in steps
    assert "p(deep)" not in page.inner_text("body") and " ms" not in page.inner_text("body")
    answer = page.locator(".turn >> nth=0 >> [data-testid=answer]")
    assert answer.inner_text().replace("\n", "") == STOPS_TEXT.replace("**", "").replace(
        "[1]", "1").replace("[2]", "2"), "the checked answer, citations as links"  # fmt: skip
    assert answer.locator("strong").inner_text() == "at most 120 stops"
    assert answer.locator("a.cite").count() == 2
    # The cited passage is a markdown table in the docs: shown as one.
    cited = sources.locator("li").first
    cited.locator("details.passage summary").click()
    assert cited.locator(".snippet table td").nth(1).inner_text() == "120"
    details = page.locator(".turn >> nth=0 >> [data-testid=details]")
    assert "Time to first word" in details.text_content() and not details.locator("dl").is_visible()
    no_horizontal_overflow(page)
    assert in_viewport(page, "#question")
    assert serious_violations(page) == [], "answered page"
    shot(page, viewport, "answer")
    assert SERVER_PATH not in page.content()

    # The source link opens the document view at the cited passage.
    with page.context.expect_page() as opened:
        sources.locator("a.open").first.click()
    doc = opened.value
    passage = doc.locator("[data-testid=passage]")
    passage.wait_for()
    assert "Stops per route" in passage.inner_text() and passage.locator("table").count() == 1
    assert in_viewport(doc, "[data-testid=passage]")
    assert doc.title() == "route-optimizer · oncall-agent"
    assert SERVER_PATH not in doc.content()
    shot(doc, viewport, "document")
    assert page.errors == []


def test_twenty_turns_scroll_the_pane_not_the_page(
    browser: Any, rig: WebRig, viewport: str
) -> None:
    page = open_page(browser, rig, viewport)
    sign_in(page)
    thread = None
    for i in range(20):  # through the API with the page's cookie: fast
        body = {"question": f"Question number {i} about routes?", "thread_id": thread}
        thread = page.request.post(f"{rig.url}/api/ask", data=body).json()["thread_id"]
    page.goto(f"{rig.url}/#c={thread}")
    page.reload()  # a new hash alone does not reload: the page opens #c=<thread> on start
    page.locator(".turn").nth(19).wait_for()
    assert page.locator(".turn").count() == 20
    assert in_viewport(page, "#question") and in_viewport(page, "#send")
    assert page.evaluate("document.scrollingElement.scrollTop") == 0
    pane = page.evaluate("[messages.scrollHeight, messages.clientHeight, messages.scrollTop]")
    assert pane[0] > pane[1] and pane[2] > 0, "the pane scrolls and shows the latest turn"
    no_horizontal_overflow(page)
    shot(page, viewport, "twenty-turns")

    if viewport == "phone":  # the sidebar is a drawer
        closed = page.locator("#new-chat").bounding_box()
        assert closed["x"] + closed["width"] <= 0, "the drawer starts off screen"
        page.click("#menu")
        page.locator("#sidebar").evaluate("e => e.getAnimations().forEach(a => a.finish())")
        assert page.locator("#new-chat").bounding_box()["x"] >= 0
        assert page.evaluate("document.activeElement.id") == "new-chat"
        shot(page, viewport, "drawer")
        page.keyboard.press("Escape")
        assert page.get_attribute("#menu", "aria-expanded") == "false"
        assert page.evaluate("document.activeElement.id") == "menu"


def test_stop_cancels_the_run_on_the_server(browser: Any, rig: WebRig, viewport: str) -> None:
    import time

    rig.model.replies[:] = [LONG_ANSWER]
    page = open_page(browser, rig, viewport)
    sign_in(page)
    page.fill("#question", "Explain the optimizer at length")
    page.keyboard.press("Enter")
    deadline = time.monotonic() + 15
    while not rig.model.calls and time.monotonic() < deadline:  # the model is writing
        time.sleep(0.05)
    time.sleep(0.3)
    clicked = time.monotonic()
    page.click("#stop")
    page.locator(".stopped").wait_for()
    assert time.monotonic() - clicked < 5, "the model stopped early (12 s of words were due)"
    assert page.is_visible("#send") and not page.is_visible("#stop")
    assert "Stopped" in page.text_content("[data-testid=steps]")
    shown = page.inner_text("[data-testid=answer]")
    assert shown.startswith("Stopped.") and "planning words" not in shown, "nothing half-checked"
    assert rig.model.replies == [], "the long reply was being written when stopped"
    assert rig.agent.recorder is not None and rig.agent.recorder.turns() == []
    page.fill("#question", "And now a short one?")
    page.keyboard.press("Enter")
    page.locator(".turn >> nth=1 >> [data-testid=sources]").wait_for()


def test_dark_mode_follows_the_system_and_the_toggle(browser: Any, rig: WebRig) -> None:
    page = open_page(browser, rig, "phone", scheme="dark")
    sign_in(page)
    background = "getComputedStyle(document.body).backgroundColor"
    assert page.evaluate(background) == "rgb(14, 17, 22)"
    page.fill("#question", STOPS)
    page.keyboard.press("Enter")
    page.locator("[data-testid=sources]").wait_for()
    assert serious_violations(page) == [], "answered page, dark"
    shot(page, "phone", "answer-dark")
    page.click("#theme")
    assert page.evaluate(background) == "rgb(245, 246, 248)"
    page.reload()
    page.wait_for_selector("#app:not([hidden])")
    assert page.evaluate(background) == "rgb(245, 246, 248)", "the choice is kept"
    assert page.get_attribute("#theme", "aria-label") == "Switch to dark theme"


def test_keyboard_only_ask_and_open_a_source(browser: Any, rig: WebRig) -> None:
    page = open_page(browser, rig, "desktop")
    page.wait_for_selector("#login-page:not([hidden])")
    page.keyboard.type("alice")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORDS["alice"])
    page.keyboard.press("Enter")
    page.wait_for_selector("#app:not([hidden])")
    assert page.evaluate("document.activeElement.id") == "question"
    page.keyboard.type(STOPS)
    page.keyboard.press("Enter")
    page.locator("[data-testid=sources]").wait_for()
    page.focus("#question")
    for _ in range(40):  # Shift+Tab back into the answer until a citation has focus
        page.keyboard.press("Shift+Tab")
        if page.evaluate("document.activeElement.classList.contains('cite')"):
            break
    else:
        pytest.fail("no citation reachable by keyboard")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none", "focus is visible"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.classList.contains('source')")


MARKDOWN_CASES = [
    ("# Title\n\ntext", "<h3>Title</h3><p>text</p>"),
    ("- a\n  - b\n- c", "<ul><li>a<ul><li>b</li></ul></li><li>c</li></ul>"),
    ("1. one\n2. two", "<ol><li>one</li><li>two</li></ol>"),
    ("> quote\n> more", "<blockquote><p>quote<br>more</p></blockquote>"),
    ("a **b** *c* ~~d~~ `e`", "<p>a <strong>b</strong> <em>c</em> <del>d</del> <code>e</code></p>"),
    ("snake_case_name stays", "<p>snake_case_name stays</p>"),
    ("[x](javascript:alert(1))", "<p>[x](javascript:alert(1))</p>"),
    ('<img src=x onerror="alert(1)">', "<p>&lt;img src=x onerror=\"alert(1)\"&gt;</p>"),
    ("see [2] and [9]", '<p>see <a class="cite" href="#c2" data-n="2" aria-label="source 2">2</a>'
     " and [9]</p>"),
    ("| a | b |\n|:-|-:|\n| 1 | 2 |", '<div class="table-wrap" tabindex="0"><table><thead><tr>'
     '<th class="align-">a</th><th class="align-right">b</th></tr></thead><tbody><tr>'
     '<td class="align-">1</td><td class="align-right">2</td></tr></tbody></table></div>'),
    ("go to https://x.example/a.", '<p>go to <a href="https://x.example/a" target="_blank" '
     'rel="noopener noreferrer">https://x.example/a</a>.</p>'),
]  # fmt: skip


def test_markdown_subset_renders_and_never_makes_markup(browser: Any, rig: WebRig) -> None:
    page = open_page(browser, rig, "desktop")
    page.wait_for_selector("#login-page:not([hidden])")
    rendered = page.evaluate(
        """cases => cases.map(text => { const d = document.createElement('div');
             d.append(OncallMd.render(text, {cite: n => n === 2 ? '#c2' : null}));
             return d.innerHTML; })""",
        [text for text, _ in MARKDOWN_CASES],
    )
    for (text, expected), got in zip(MARKDOWN_CASES, rendered, strict=True):
        assert got.replace('class=""', "").replace(' class="align-"', "") == expected.replace(
            ' class="align-"', ""
        ), f"{json.dumps(text)}"
    assert page.title() == "oncall-agent"
