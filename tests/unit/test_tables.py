"""HTML tables -> pipe tables for chunk text."""

from __future__ import annotations

import pytest

from ingest.partition import html_table_to_text


def test_header_separator_and_body_rows() -> None:
    html = (
        "<table><tr><th>Service</th><th>Owner</th></tr>"
        "<tr><td>payments-api</td><td>Pay</td></tr>"
        "<tr><td>auth</td><td>Identity</td></tr></table>"
    )
    assert html_table_to_text(html) == (
        "| Service | Owner |\n|---|---|\n| payments-api | Pay |\n| auth | Identity |"
    )


def test_thead_tbody_and_inline_markup() -> None:
    html = (
        "<table><thead><tr><th>A</th><th>B</th></tr></thead>"
        "<tbody><tr><td>1</td><td><b>bold</b> x</td></tr></tbody></table>"
    )
    assert html_table_to_text(html) == "| A | B |\n|---|---|\n| 1 | bold x |"


def test_whitespace_inside_cells_collapsed() -> None:
    html = (
        "<table><tr><th> Owner\n  team </th><th>On\tcall</th></tr>"
        "<tr><td>Team   Pay</td><td>\n alice \n</td></tr></table>"
    )
    assert html_table_to_text(html) == "| Owner team | On call |\n|---|---|\n| Team Pay | alice |"


def test_empty_rows_dropped_but_empty_cells_kept() -> None:
    html = (
        "<table><tr><th>K</th><th>V</th></tr>"
        "<tr><td></td><td> </td></tr>"
        "<tr></tr>"
        "<tr><td>x</td><td></td></tr></table>"
    )
    assert html_table_to_text(html) == "| K | V |\n|---|---|\n| x |  |"


def test_header_only_table() -> None:
    html = "<table><tr><th>A</th><th>B</th><th>C</th></tr></table>"
    assert html_table_to_text(html) == "| A | B | C |\n|---|---|---|"


def test_entities_unescaped() -> None:
    html = "<table><tr><td>a &amp; b</td></tr></table>"
    assert html_table_to_text(html) == "| a & b |\n|---|"


@pytest.mark.parametrize(
    "html",
    ["", "<table></table>", "<table><tr></tr></table>", "<table><tr><td> </td></tr></table>"],
)
def test_empty_table_is_empty_string(html: str) -> None:
    assert html_table_to_text(html) == ""


def test_breaks_inside_cells_separate_words_and_pipes_are_escaped() -> None:
    html = (
        "<table><tr><td>Restart<br>pods</td><td><p>one</p><p>two</p></td><td>x|y</td></tr></table>"
    )
    assert html_table_to_text(html) == "| Restart pods | one two | x\\|y |\n|---|---|---|"
