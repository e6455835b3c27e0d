"""Blocks -> chunks: section paths, tables, long-block splitting, merging, pages."""

from __future__ import annotations

from ingest.chunking import Chunk, ChunkingConfig, chunk_blocks
from ingest.partition import Block

NO_MERGE = ChunkingConfig(max_chars=1500, soft_chars=1000, combine_under_chars=0)


def title(text: str, depth: int = 0, page: int | None = None) -> Block:
    return Block("title", text, depth=depth, page=page)


def text(body: str, page: int | None = None) -> Block:
    return Block("text", body, page=page)


def _norm(s: str) -> str:
    return " ".join(s.split())


def test_chunks_never_span_sections() -> None:
    blocks = [title("A"), text("alpha one"), text("alpha two"), title("B"), text("beta one")]
    chunks = chunk_blocks(blocks)
    assert [(c.text, c.section) for c in chunks] == [
        ("alpha one\n\nalpha two", ["A"]),
        ("beta one", ["B"]),
    ]


def test_section_path_follows_heading_depth() -> None:
    blocks = [
        title("A", 0),
        title("B", 1),
        title("C", 2),
        text("in C"),
        title("D", 1),
        text("in D"),
        title("E", 2),
        text("in E"),
        title("F", 0),
        text("in F"),
    ]
    chunks = chunk_blocks(blocks)
    assert [c.section for c in chunks] == [["A", "B", "C"], ["A", "D"], ["A", "D", "E"], ["F"]]
    assert chunks[1].section_path == "A > D"


def test_same_depth_title_replaces_sibling() -> None:
    chunks = chunk_blocks([title("A"), title("B", 1), title("B2", 1), text("x")])
    assert chunks == [Chunk("x", ["A", "B2"], None)]


def test_text_before_any_title_has_empty_section() -> None:
    chunks = chunk_blocks([text("preamble"), title("A"), text("body")])
    assert [(c.text, c.section_path) for c in chunks] == [("preamble", ""), ("body", "A")]


def test_titles_without_text_make_no_chunks() -> None:
    assert chunk_blocks([title("A"), title("B", 1), text("   ")]) == []
    assert chunk_blocks([]) == []


def test_table_is_its_own_chunk() -> None:
    table = "| Service | Owner |\n|---|---|\n| payments-api | Pay |"
    blocks = [title("A"), text("before"), Block("table", table), text("after")]
    chunks = chunk_blocks(blocks, NO_MERGE)
    assert [c.text for c in chunks if not c.row] == ["before", table, "after"]
    assert [c.text for c in chunks if c.row] == ["A: Service: payments-api; Owner: Pay"]
    assert all(c.section == ["A"] for c in chunks)


def test_long_block_split_at_sentences_without_loss() -> None:
    sentences = [f"Sentence number {i} explains step {i} of the runbook." for i in range(40)]
    body = " ".join(sentences)
    cfg = ChunkingConfig(max_chars=200, soft_chars=150, combine_under_chars=0)
    chunks = chunk_blocks([title("A"), text(body)], cfg)
    assert len(chunks) > 1
    assert all(len(c.text) <= 200 for c in chunks)
    assert _norm(" ".join(c.text for c in chunks)) == _norm(body)
    # every cut falls at a sentence boundary
    assert all(c.text.endswith(".") for c in chunks)
    assert all(c.text.startswith("Sentence number") for c in chunks)


def test_long_sentence_without_boundary_cut_at_spaces() -> None:
    body = " ".join(f"word{i}" for i in range(100))  # ~690 chars, no sentence end
    cfg = ChunkingConfig(max_chars=100, soft_chars=80, combine_under_chars=0)
    chunks = chunk_blocks([text(body)], cfg)
    assert all(len(c.text) <= 100 for c in chunks)
    assert _norm(" ".join(c.text for c in chunks)) == body


def test_small_chunk_merged_into_previous_same_section() -> None:
    cfg = ChunkingConfig(max_chars=300, soft_chars=100, combine_under_chars=50)
    first, second = "a" * 90, "b" * 30  # 90 + 30 + 2 > soft_chars: separate at first
    chunks = chunk_blocks([title("A"), text(first), text(second)], cfg)
    assert [c.text for c in chunks] == [f"{first}\n\n{second}"]


def test_small_chunk_not_merged_across_sections() -> None:
    cfg = ChunkingConfig(max_chars=300, soft_chars=100, combine_under_chars=50)
    blocks = [title("A"), text("a" * 90), title("B"), text("b" * 30)]
    chunks = chunk_blocks(blocks, cfg)
    assert [(c.text, c.section) for c in chunks] == [("a" * 90, ["A"]), ("b" * 30, ["B"])]


def test_merge_never_exceeds_max_chars() -> None:
    cfg = ChunkingConfig(max_chars=120, soft_chars=100, combine_under_chars=50)
    chunks = chunk_blocks([text("a" * 100), text("b" * 30)], cfg)  # 100 + 30 + 2 > 120
    assert [c.text for c in chunks] == ["a" * 100, "b" * 30]


def test_large_chunk_not_merged() -> None:
    cfg = ChunkingConfig(max_chars=300, soft_chars=100, combine_under_chars=50)
    chunks = chunk_blocks([text("a" * 60), text("b" * 60)], cfg)  # 60 + 60 + 2 > 100
    assert [c.text for c in chunks] == ["a" * 60, "b" * 60]


def test_page_comes_from_first_block_of_chunk() -> None:
    blocks = [title("A", page=1), text("on page two", page=2), text("on page three", page=3)]
    chunks = chunk_blocks(blocks)
    assert [(c.text, c.page) for c in chunks] == [("on page two\n\non page three", 2)]


def test_page_after_soft_split() -> None:
    cfg = ChunkingConfig(max_chars=300, soft_chars=100, combine_under_chars=0)
    chunks = chunk_blocks([text("a" * 60, page=4), text("b" * 60, page=5)], cfg)
    assert [c.page for c in chunks] == [4, 5]


def test_split_long_keeps_text_order_when_a_long_sentence_follows_a_short_one() -> None:
    from ingest.chunking import _split_long

    assert _split_long("Alpha beta. " + "x" * 100, 60) == ["Alpha beta.", "x" * 60, "x" * 40]


def test_each_table_row_is_also_a_passage_of_its_own() -> None:
    from ingest.chunking import table_rows

    table = (
        "| Severity | Acknowledge page | Status page |\n|---|---|---|\n"
        "| SEV1 | 5 minutes | within 20 minutes |\n| SEV2 | 15 minutes | |\n"
    )
    blocks = [Block("title", "Severity", depth=1), Block("table", table)]
    chunks = chunk_blocks(blocks)
    rows = [c.text for c in chunks if c.row]
    assert rows == [
        "Severity: Severity: SEV1; Acknowledge page: 5 minutes; Status page: within 20 minutes",
        "Severity: Severity: SEV2; Acknowledge page: 15 minutes",
    ]
    assert [c.text for c in chunks if not c.row] == [table], "the table stays whole"
    assert table_rows("| a |\n|---|\n| 1 |") == [], "one column: nothing to pair"
    assert table_rows("| a | b |\n| 1 | 2 |") == [], "no header rule: not a table we can read"
