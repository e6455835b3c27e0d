"""Text from outside (file names, paths, titles, questions) made safe to show.

A file name is chosen by whoever wrote the file: it can hold ANSI escape sequences that
repaint or clear a terminal, a carriage return that overwrites the line before it, or
bidirectional overrides that make `gpj.exe` read as `exe.jpg`. `printable` is the one
function every renderer (terminal, Slack, web payloads, hand-overs) passes such text
through before showing it; the stored text is left as it was.
"""

from __future__ import annotations

import re

REPLACEMENT = "\ufffd"  # shown where a control character was: the reader sees something was there

# C0 controls (but tab/newline, handled below), DEL, C1 controls; bidi embeddings,
# overrides and isolates; the line/paragraph separators some terminals treat as newlines.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u2028\u2029]")
_LINE_BREAKS = re.compile(r"[\t\n]")


def printable(text: object, multiline: bool = False) -> str:
    """`text` with every control character replaced by U+FFFD.

    Names, paths and titles are one line (`multiline=False`): tabs and newlines become a
    space, so a name cannot start a new line that looks like the program's own output.
    Prose (questions, answers, hand-overs) keeps tabs and newlines (`multiline=True`);
    carriage returns are never kept (they rewrite the line already shown).
    """
    value = str(text)
    if not multiline:
        value = _LINE_BREAKS.sub(" ", value)
    return _CONTROL.sub(REPLACEMENT, value)
