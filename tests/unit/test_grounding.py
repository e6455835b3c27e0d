"""The grounding check on hand-made answers: numbers, names, identifiers, a right fact cited
to the wrong passage, a passage about something else, table rows, tool results, Chinese."""

from __future__ import annotations

import pytest

from agent.answering import claims_from_text, parse_claims, render
from agent.grounding import (
    Claim,
    Evidence,
    check_claims,
    facts,
    locate_quote,
    question_parts,
    subject_terms,
)
from tools.search_docs import DocHit

SEVERITY = Evidence(
    1,
    "| Severity | Ack within | Who |\n| SEV1 | 5 minutes | primary + IC |\n"
    "| SEV2 | 15 minutes | primary |\n| SEV3 | next business day | owning team |",
    "oncall/severity-levels › Levels",
)
ROUTE = Evidence(
    2,
    "RouteOptimizerLateDepots fires when more than 100 depots have no plan by 05:00 UTC. "
    "The gRPC API listens on 50051. REST is on 8090 for the depot tools of the planners.",
    "services/route-optimizer › Alerts",
)
CERT = Evidence(
    3,
    "The kestrel-mtls-client certificate expires 2027-02-15; renew it 30 days before.",
    "runbooks/certificate-expiry › Which certificates we have",
)
ONCALL = Evidence(
    4,
    '{"team": "payments", "primary": "Priya Raman", "secondary": "Tom Becker"}',
    "get_oncall › team=payments",
    kind="tool",
)
EVIDENCE = [SEVERITY, ROUTE, CERT, ONCALL]


def verdicts(question: str, *claims: Claim) -> list[tuple[bool, str]]:
    result = check_claims(list(claims), EVIDENCE, question)
    by_claim = {v.claim: v for v in result.kept + result.dropped}
    return [(by_claim[c].ok, by_claim[c].reason) for c in claims]


def test_facts_cover_numbers_identifiers_names_and_code() -> None:
    found = facts(
        "Page Priya Raman for SEV2 within 15 minutes, set `oncall.ack_timeout` to 1,000 ms "
        "and check PaymentsApiHigh5xxRate (2.4%) before 2027-02-15 14:00 on v1.2.3."
    )
    assert {"priya", "raman", "sev2", "15", "oncall.ack_timeout", "1000", "2.4"} <= found
    assert {"paymentsapihigh5xxrate", "2027-02-15", "14:00", "v1.2.3"} <= found
    assert "page" not in found, "a sentence's first word is not a name"
    assert facts("SEV2告警须在15分钟内确认。") == {"sev2", "15"}


def test_the_quoted_row_is_found_and_not_its_neighbours() -> None:
    coverage, lines = locate_quote("SEV2 | 15 minutes", SEVERITY.text)
    assert coverage == 1.0 and lines == "| SEV2 | 15 minutes | primary |"
    assert locate_quote("acknowledged by the incident commander", SEVERITY.text)[0] < 0.8


def test_a_supported_number_is_kept() -> None:
    claim = Claim(1, "SEV2 | 15 minutes", "SEV2 pages must be acknowledged within 15 minutes.")
    assert verdicts("How fast must SEV2 pages be acknowledged?", claim) == [(True, "")]


def test_a_number_the_quoted_lines_do_not_hold_is_dropped() -> None:
    claim = Claim(1, "SEV2 | 15 minutes", "SEV2 pages must be acknowledged within 20 minutes.")
    ((ok, reason),) = verdicts("How fast must SEV2 pages be acknowledged?", claim)
    assert not ok and "does not say 20" in reason


def test_a_number_from_another_row_of_the_same_table_is_dropped() -> None:
    # "5 minutes" is in the table, but in the SEV1 row, not the row the claim quotes.
    claim = Claim(1, "SEV2 | 15 minutes", "SEV2 pages must be acknowledged within 5 minutes.")
    assert not verdicts("How fast must SEV2 pages be acknowledged?", claim)[0][0]


def test_a_passage_about_something_else_does_not_answer() -> None:
    # The README example: a real number from a real passage, about route-optimizer.
    claim = Claim(2, "more than 100 depots", "SEV2 pages must be acknowledged within 100 depots.")
    ((ok, reason),) = verdicts("How fast must SEV2 pages be acknowledged?", claim)
    assert not ok and "sev2" in reason


def test_a_trap_whose_answer_is_another_rows_value_is_dropped() -> None:
    claim = Claim(1, "SEV2 | 15 minutes", "SEV4 pages are acknowledged within 15 minutes.")
    ((ok, reason),) = verdicts("How fast must SEV4 pages be acknowledged?", claim)
    assert not ok and "sev4" in reason


def test_a_right_fact_cited_to_the_wrong_passage_moves_to_the_right_one() -> None:
    claim = Claim(1, "The gRPC API listens on 50051", "The gRPC API listens on port 50051.")
    result = check_claims([claim], EVIDENCE, "Which port does route-optimizer's gRPC API use?")
    (kept,) = result.kept
    assert kept.evidence == ROUTE


def test_the_question_identifiers_must_be_in_the_quoted_part() -> None:
    rest = Claim(2, "REST is on 8090", "route-optimizer's gRPC API is on 8090.")
    ((ok, reason),) = verdicts("Which port does route-optimizer's gRPC API use?", rest)
    assert not ok and "grpc" in reason


def test_names_must_come_from_the_tool_result() -> None:
    question = "Who is on call for payments?"
    right = Claim(4, "", "Priya Raman is the payments primary on call.")
    wrong = Claim(4, "", "The primary is Ana Lopez.")
    assert verdicts(question, right, wrong) == [
        (True, ""),
        (False, "[4] does not say ana, lopez"),
    ]


def test_each_part_of_a_two_part_question_needs_only_its_own_subject() -> None:
    question = "When does kestrel-mtls-client expire? And how fast are SEV2 pages acked?"
    assert question_parts(question) == [
        "When does kestrel-mtls-client expire?",
        "And how fast are SEV2 pages acked?",
    ]
    cert = Claim(3, "expires 2027-02-15", "kestrel-mtls-client expires on 2027-02-15.")
    sev2 = Claim(1, "SEV2 | 15 minutes", "SEV2 pages are acked within 15 minutes.")
    assert verdicts(question, cert, sev2) == [(True, ""), (True, "")]


def test_a_fact_free_sentence_needs_most_of_its_words_in_the_quoted_lines() -> None:
    question = "Who acknowledges SEV3 pages?"
    kept = Claim(1, "SEV3 | next business day | owning team", "The owning team does.")
    dropped = Claim(1, "SEV3 | next business day | owning team", "Nobody needs to care.")
    assert [ok for ok, _ in verdicts(question, kept, dropped)] == [True, False]


def test_a_chinese_claim_is_checked_on_its_numbers_and_identifiers() -> None:
    question = "SEV2 告警多久内必须确认？"
    right = Claim(1, "SEV2 | 15 minutes", "SEV2 告警须在 15 分钟内确认。")
    wrong = Claim(1, "SEV2 | 15 minutes", "SEV2 告警须在 30 分钟内确认。")
    assert [ok for ok, _ in verdicts(question, right, wrong)] == [True, False]
    assert subject_terms(question) == {"sev2"}


def test_a_quote_that_is_nowhere_is_dropped() -> None:
    claim = Claim(1, "the pager rotates weekly on Mondays", "The pager rotates weekly.")
    ((ok, reason),) = verdicts("How often does the pager rotate?", claim)
    assert not ok and "quote" in reason


@pytest.mark.parametrize(
    ("reply", "count"),
    [
        ('{"claims": [{"source": 1, "quote": "a b", "text": "c"}]}', 1),
        ('```json\n{"claims": []}\n```', 0),
        ('{"claims": [{"source": "x", "quote": "a", "text": "b"}, 7]}', 0),
        ("A SEV2 page is acked in 15 minutes [1]. Call the primary.", 2),
    ],
)
def test_replies_parse_into_claims(reply: str, count: int) -> None:
    assert len(parse_claims(reply)) == count


def test_prose_is_read_as_unquoted_claims_checked_against_the_whole_passage() -> None:
    (claim,) = claims_from_text("SEV2 pages are acknowledged within 15 minutes [1].")
    assert claim.source == 1 and not claim.quoted
    assert claim.text == "SEV2 pages are acknowledged within 15 minutes."
    assert verdicts("SEV2 ack time?", claim) == [(True, "")]


def test_citations_are_numbered_in_the_order_they_appear() -> None:
    from agent.answering import number_evidence

    hits = [
        DocHit(f"c{n}", f"doc{n}", "", "", "", None, e.text, 0.0, 1.0)
        for n, e in enumerate(EVIDENCE[:3], start=1)
    ]
    items = number_evidence(hits)
    claims = [
        Claim(3, "expires 2027-02-15", "kestrel-mtls-client expires 2027-02-15."),
        Claim(1, "SEV2 | 15 minutes", "SEV2 pages are acked within 15 minutes."),
    ]
    grounded = check_claims(claims, [i.evidence for i in items], "cert expiry? and SEV2 ack?")
    text, citations = render(grounded, items)
    assert text == (
        "kestrel-mtls-client expires 2027-02-15 [1]. SEV2 pages are acked within 15 minutes [2]."
    )
    assert [(c.number, c.hit.chunk_id) for c in citations] == [(1, "c3"), (2, "c1")]
