"""[n] markers: parsing, resolving, stripping and automatic attribution."""

from __future__ import annotations

import pytest

from agent.citations import attribute, cited_numbers, resolve_citations, strip_invalid_markers
from tools.search_docs import DocHit


def hit(n: int, text: str) -> DocHit:
    return DocHit(
        chunk_id=f"c{n}",
        doc_id=f"doc{n}.md",
        source=f"docs/doc{n}.md",
        title=f"Doc {n}",
        section="Recovery",
        page=None,
        text=text,
        score=1.0 / n,
        similarity=0.5,
    )


HITS = [
    hit(1, "Restart the payments-api pods with kubectl rollout restart deployment payments-api."),
    hit(2, "The p99 latency alert fires when checkout latency exceeds 800 ms for five minutes."),
]


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("no markers here", []),
        ("See [1].", [1]),
        ("See [1, 2].", [1, 2]),
        ("See [1][3].", [1, 3]),
        ("See 【2】.", [2]),
        ("See [ 4 ，5 ].", [4, 5]),
        ("[2] then [1] then [2] again [1, 2]", [2, 1]),
        ("[3] x [1, 3, 2]", [3, 1, 2]),
        ("array[i] and [a] are not markers", []),
    ],
)
def test_cited_numbers(answer: str, expected: list[int]) -> None:
    assert cited_numbers(answer) == expected


def test_resolve_citations_drops_out_of_range() -> None:
    cites = resolve_citations("[3] [2] [0] [1] [2]", HITS)
    assert [(c.number, c.hit.chunk_id) for c in cites] == [(2, "c2"), (1, "c1")]


def test_resolve_citations_no_hits() -> None:
    assert resolve_citations("[1]", []) == []


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("a [1] b [3] c", "a [1] b c"),
        ("a [1, 5] b", "a [1] b"),
        ("a [0] b", "a b"),
        ("a 【2】 b", "a [2] b"),
        ("a [1, 2] b", "a [1][2] b"),
        ("no markers", "no markers"),
    ],
)
def test_strip_invalid_markers(answer: str, expected: str) -> None:
    assert strip_invalid_markers(answer, 2) == expected


def test_attribute_keeps_models_own_valid_markers() -> None:
    answer = "Restart the deployment [2]. It fixes latency."
    text, cites = attribute(answer, HITS, "how do I fix payments?")
    assert text == answer  # no automatic marker added to the second sentence
    assert [c.number for c in cites] == [2]


def test_attribute_own_markers_invalid_ones_removed() -> None:
    text, cites = attribute("Restart payments-api [1]. See [7].", HITS)
    assert text == "Restart payments-api [1]. See."
    assert [c.hit.chunk_id for c in cites] == ["c1"]


def test_attribute_adds_markers_before_final_punctuation() -> None:
    answer = (
        "To recover, restart the payments-api deployment with kubectl rollout restart.\n"
        "The alert fires when p99 latency exceeds 800 ms!"
    )
    text, cites = attribute(answer, HITS, "How do I fix payments?")
    assert text == (
        "To recover, restart the payments-api deployment with kubectl rollout restart [1].\n"
        "The alert fires when p99 latency exceeds 800 ms [2]!"
    )
    assert [c.number for c in cites] == [1, 2]


def test_attribute_sentence_without_final_punctuation() -> None:
    text, _ = attribute("restart payments-api pods", HITS)
    assert text == "restart payments-api pods [1]"


def test_attribute_lists_and_code_fences_preserved() -> None:
    answer = (
        "Steps:\n"
        "1. Restart the payments-api deployment using kubectl rollout restart.\n"
        "2. Check that p99 latency is below 800 ms.\n"
        "\n"
        "```\n"
        "kubectl rollout restart deployment payments-api\n"
        "```\n"
        "Done."
    )
    text, cites = attribute(answer, HITS, "how to fix payments")
    assert text == (
        "Steps:\n"
        "1. Restart the payments-api deployment using kubectl rollout restart [1].\n"
        "2. Check that p99 latency is below 800 ms [2].\n"
        "\n"
        "```\n"
        "kubectl rollout restart deployment payments-api\n"
        "```\n"
        "Done."
    )
    assert [c.number for c in cites] == [1, 2]


def test_attribute_never_marks_inside_code_fence() -> None:
    answer = "```bash\nkubectl rollout restart deployment payments-api\n```"
    assert attribute(answer, HITS) == (answer, [])


def test_attribute_unsupported_answer_unmarked() -> None:
    answer = "The capital of France is Paris."
    assert attribute(answer, HITS, "What is the capital of France?") == (answer, [])


def test_attribute_no_hits() -> None:
    assert attribute("Restart payments-api pods.", []) == ("Restart payments-api pods.", [])


def test_attribute_ignores_terms_from_question() -> None:
    # Only "payments"/"api" overlap the source, and they come from the question itself.
    answer = "Payments-api is owned by the billing squad."
    assert attribute(answer, HITS, "Who owns payments-api?") == (answer, [])


def test_attribute_cjk_sentence() -> None:
    hits = [hit(1, "支付服务重启后需要检查日志。")]
    text, cites = attribute("支付服务重启后检查日志。然后观察。", hits)
    assert text == "支付服务重启后检查日志 [1]。然后观察。"
    assert [c.number for c in cites] == [1]


def test_attribute_ignores_filler_and_matches_word_forms() -> None:
    # Small models wrap answers in boilerplate and inflect words ("owns" -> "owned"); the
    # source still supports the claim.
    sources = [hit(1, "Deploy calendar"), hit(2, "Owner: Payments team · Last reviewed: 2026")]
    text, cites = attribute(
        "Based on the information provided in the documents, payments-api is owned by "
        "the Payments team.",
        sources,
        "Who owns payments-api?",
    )
    assert text.endswith("Payments team [2].")
    assert [c.number for c in cites] == [2]
