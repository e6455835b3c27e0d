"""BM25 sparse encoding: tokenizer, term hashing, document and query vectors."""

from __future__ import annotations

import pytest

from ingest.sparse import (
    AVG_DOC_TOKENS,
    STOPWORDS,
    encode_document,
    encode_query,
    term_id,
    tokenize,
)


def test_tokenize_lowercases_and_drops_stopwords() -> None:
    assert tokenize("How do I restart THE Gateway?") == ["restart", "gateway"]


def test_tokenize_only_stopwords_is_empty() -> None:
    assert tokenize("what is the") == []
    assert tokenize("") == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("payments-api", ["payments-api", "payments", "api"]),
        ("p99", ["p99"]),
        ("v1.2", ["v1.2", "v1", "2"]),
        ("svc/auth:8080", ["svc/auth:8080", "svc", "auth", "8080"]),
        ("Payments_API", ["payments_api", "payments", "api"]),
    ],
)
def test_tokenize_identifiers_kept_whole_and_split(text: str, expected: list[str]) -> None:
    assert tokenize(text) == expected


def test_tokenize_identifier_parts_drop_stopwords() -> None:
    assert tokenize("how-to") == ["how-to"]


def test_tokenize_cjk_bigrams() -> None:
    assert tokenize("支付服务") == ["支付", "付服", "服务"]


def test_tokenize_single_cjk_char_kept() -> None:
    assert tokenize("付") == ["付"]


def test_tokenize_mixed_latin_then_cjk() -> None:
    assert tokenize("Restart 支付服务 p99 付") == ["restart", "p99", "支付", "付服", "服务", "付"]


def test_term_id_fixed_value() -> None:
    # blake2b(digest_size=4), big-endian; a change of hash breaks every stored index.
    assert term_id("payments") == 2657870285


@pytest.mark.parametrize("term", ["a", "payments-api", "支付", "p99", "x" * 500])
def test_term_id_is_stable_and_32_bit(term: str) -> None:
    assert term_id(term) == term_id(term)
    assert 0 <= term_id(term) < 2**32


def test_term_id_distinguishes_terms() -> None:
    assert term_id("payments") != term_id("payment")


def _doc_of_length(n: int, head: str = "alpha") -> str:
    """A document of exactly `n` tokens: `head` plus distinct filler tokens."""
    filler = [f"w{i}" for i in range(n - len(head.split()))]
    return " ".join([head, *filler])


def _weight(vec, term: str) -> float:
    return vec.values[vec.indices.index(term_id(term))]


def test_encode_document_indices_sorted_unique() -> None:
    vec = encode_document("payments-api p99 latency payments payments 支付服务 the and")
    assert vec.indices == sorted(set(vec.indices))
    assert len(vec.indices) == len(vec.values)
    # payments-api, payments, api, p99, latency, 支付, 付服, 服务 ("payments" appears 3 times)
    assert len(vec.indices) == 8


def test_encode_document_weight_at_average_length_is_one() -> None:
    text = _doc_of_length(int(AVG_DOC_TOKENS))
    assert len(tokenize(text)) == 120
    # tf=1, dl=avgdl: 1 * (1.2 + 1) / (1 + 1.2 * 1) = 1.0
    assert _weight(encode_document(text), "alpha") == pytest.approx(1.0)


def test_encode_document_tf3_at_average_length() -> None:
    text = _doc_of_length(120, head="alpha alpha alpha")
    # 3 * 2.2 / (3 + 1.2) = 6.6 / 4.2
    assert _weight(encode_document(text), "alpha") == pytest.approx(6.6 / 4.2)


def test_encode_document_single_token_doc() -> None:
    # dl=1: norm = 0.25 + 0.75 / 120 = 0.25625; 2.2 / (1 + 1.2 * 0.25625) = 2.2 / 1.3075
    vec = encode_document("alpha")
    assert vec.indices == [term_id("alpha")]
    assert vec.values[0] == pytest.approx(2.2 / 1.3075)


def test_encode_document_saturates() -> None:
    w1 = _weight(encode_document(_doc_of_length(120)), "alpha")
    w3 = _weight(encode_document(_doc_of_length(120, head="alpha alpha alpha")), "alpha")
    assert w1 < w3 < 3 * w1


def test_encode_document_longer_doc_smaller_weight() -> None:
    short = _weight(encode_document(_doc_of_length(60)), "alpha")
    avg = _weight(encode_document(_doc_of_length(120)), "alpha")
    long = _weight(encode_document(_doc_of_length(480)), "alpha")
    assert short > avg > long
    # dl=480: norm = 0.25 + 0.75 * 4 = 3.25; 2.2 / (1 + 1.2 * 3.25) = 2.2 / 4.9
    assert long == pytest.approx(2.2 / 4.9)


def test_encode_document_empty() -> None:
    vec = encode_document("the of and")
    assert vec.indices == [] and vec.values == []


def test_encode_query_weights_one_and_deduplicated() -> None:
    vec = encode_query("payments payments-api Payments p99 the")
    expected = sorted({term_id(t) for t in ["payments", "payments-api", "api", "p99"]})
    assert vec.indices == expected
    assert vec.values == [1.0] * 4


def test_stopwords_contains_common_question_words() -> None:
    assert {"how", "what", "the", "should"} <= STOPWORDS
    assert "restart" not in STOPWORDS
