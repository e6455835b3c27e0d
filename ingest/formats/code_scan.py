"""Definition spans for languages without a parser here: regexes plus brace matching.

A small lexer computes the brace depth at the start and end of every line, skipping string
literals and comments, so `"{"` or `// }` do not shift a function's end. A definition is a
line at the current depth that matches one of the language's patterns and opens a brace
within a few lines; it ends on the line where the depth returns. This is a heuristic: a
construct it misreads still ends up in the file's text, only under a coarser section.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass
class Span:
    """Lines [start, end) (0-based) of one definition, with its nested definitions."""

    start: int
    end: int
    title: str
    children: list[Span] = field(default_factory=list)


_MOD_WORDS = (
    r"export|default|public|private|protected|internal|static|final|abstract|sealed|"
    r"open|data|async|override|virtual|partial|readonly|inline|unsafe|extern|synchronized|"
    r"suspend|declare|pub(?:\([^)]*\))?"
)
_MODS = rf"(?:(?:{_MOD_WORDS})\s+)*"
_C = re.compile  # shorthand for the tables below
# (pattern, is_container): containers get their members split out as child sections.
_DEFS: dict[str, list[tuple[re.Pattern[str], bool]]] = {
    "go": [(_C(r"^func\s"), False), (_C(r"^type\s+\w+\s+(struct|interface)\b"), False)],
    "javascript": [
        (_C(rf"^{_MODS}function\b"), False),
        (_C(rf"^{_MODS}(abstract\s+)?class\s+\w+"), True),
        (_C(rf"^{_MODS}(namespace|module)\s+[\w.]+"), True),
        (_C(rf"^{_MODS}(interface|enum)\s+\w+"), False),
        (
            _C(
                rf"^{_MODS}(const|let|var)\s+[\w$]+\s*(:[^=]+)?=\s*(async\s+)?"
                r"(function\b|\([^)]*\)\s*(:[^=]+)?=>|[\w$]+\s*=>)"
            ),
            False,
        ),
    ],
    "java": [
        (_C(rf"^{_MODS}(class|interface|enum|record|object|struct)\s+\w+"), True),
        (_C(r"^namespace\s+[\w.]+"), True),
        (_C(rf"^{_MODS}fun\s"), False),
    ],
    "rust": [
        (_C(rf"^{_MODS}(const\s+)?fn\s+\w+"), False),
        (_C(rf"^{_MODS}(impl|trait|mod)\b"), True),
        (_C(rf"^{_MODS}(struct|enum|union)\s+\w+"), False),
        (_C(r"^macro_rules!\s*\w+"), False),
    ],
    "c": [
        (_C(r"^(class|namespace)\s+\w+[^;]*$"), True),
        (_C(r"^(typedef\s+)?(struct|enum|union)\s+\w+[^;]*$"), False),
        (_C(r"^[A-Za-z_][\w\s*&:<>,]*?[\w:~]+\s*\([^;]*$"), False),
    ],
    "shell": [(_C(r"^(function\s+[\w:.-]+|[\w:.-]+\s*\(\s*\))"), False)],
    "terraform": [
        (_C(r"^(resource|data|module|variable|output|provider|locals|terraform)\b"), False)
    ],
}
for _alias, _base in {"typescript": "javascript", "kotlin": "java", "csharp": "java"}.items():
    _DEFS[_alias] = _DEFS[_base]
_DEFS["cpp"] = _DEFS["c"]

_MEMBER = _C(
    rf"^(?:(?:get|set|{_MOD_WORDS})\s+)*"
    r"(?:[\w<>\[\],.?:*&]+(?:\s*<[^>]*>)?\s+)*(?:fun\s+|fn\s+)?[\w$~]+\s*(<[^>]*>)?\s*\("
)
_FIELD_FN = _C(rf"^{_MODS}[\w$]+\s*=\s*(async\s+)?(\([^)]*\)|[\w$]+)\s*=>")
_NOT_A_DEF = _C(
    r"^(if|else|for|foreach|while|do|switch|case|catch|try|finally|return|new|throw|await|"
    r"typeof|delete|when|match|loop|sizeof|using|lock|yield|defer|go|select)\b"
)
_LINE_COMMENT = {"shell": ("#",), "terraform": ("#", "//")}
_DEFAULT_COMMENT = ("//",)
_LEADING = {"shell": ("#",), "terraform": ("#", "//"), "rust": ("//", "#[", "#!")}
_DEFAULT_LEADING = ("//", "/*", "*", "@")
_MAX_SIGNATURE_LINES = 8


def brace_spans(lines: list[str], language: str) -> list[Span]:
    """Top-level definitions of a brace language, containers with their members."""
    starts, ends = brace_depths(lines, language)
    return _find(lines, 0, len(lines), 0, starts, ends, language, member=False)


def _find(
    lines: list[str],
    start: int,
    end: int,
    level: int,
    starts: list[int],
    ends: list[int],
    language: str,
    member: bool,
) -> list[Span]:
    spans: list[Span] = []
    i = start
    while i < end:
        stripped = lines[i].strip()
        kind = _match(stripped, language, member) if starts[i] == level else None
        stop = _block_end(lines, i, end, level, ends) if kind is not None else None
        if kind is None or stop is None:
            i += 1
            continue
        first = _leading_comments(lines, i, spans[-1].end if spans else start, language)
        span = Span(first, stop, stripped.split("{")[0].strip() or stripped)
        if kind:  # a container: its members one level deeper
            span.children = _find(lines, i + 1, stop, level + 1, starts, ends, language, True)
        spans.append(span)
        i = stop
    return spans


def _match(line: str, language: str, member: bool) -> bool | None:
    """None: not a definition; otherwise whether it is a container."""
    if not line or _NOT_A_DEF.match(line):
        return None
    for pattern, container in _DEFS.get(language, []):
        if pattern.match(line):
            return container
    if member and (_MEMBER.match(line) or _FIELD_FN.match(line)):
        return False
    return None


def _block_end(lines: list[str], i: int, end: int, level: int, ends: list[int]) -> int | None:
    """Line after the definition starting at `i`, or None if it opens no brace (a call, a
    forward declaration, an abstract method)."""
    for j in range(i, min(end, i + _MAX_SIGNATURE_LINES)):
        if ends[j] > level:
            for k in range(j + 1, end):
                if ends[k] <= level:
                    return k + 1
            return end
        if "{" in lines[j] and "}" in lines[j]:
            return j + 1  # opened and closed on one line
        if lines[j].rstrip().endswith(";"):
            return None
    return None


def _leading_comments(lines: list[str], i: int, floor: int, language: str) -> int:
    prefixes = _LEADING.get(language, _DEFAULT_LEADING)
    while i > floor and lines[i - 1].strip().startswith(prefixes):
        i -= 1
    return i


def brace_depths(lines: list[str], language: str) -> tuple[list[int], list[int]]:
    """Brace depth before and after each line, ignoring braces in strings and comments."""
    comments = _LINE_COMMENT.get(language, _DEFAULT_COMMENT)
    block_comments = language not in {"shell"}
    multiline_quotes = {"`"} if language in {"javascript", "typescript", "go"} else set()
    if language == "shell":
        multiline_quotes = {'"', "'"}
    depth, state = 0, ""  # state: "" | "/*" | an open multi-line quote character
    starts, ends = [], []
    for line in lines:
        starts.append(depth)
        i, n = 0, len(line)
        while i < n:
            ch = line[i]
            if state == "/*":
                if line.startswith("*/", i):
                    state, i = "", i + 1
            elif state:
                if ch == "\\":
                    i += 1
                elif ch == state:
                    state = ""
            elif block_comments and line.startswith("/*", i):
                state, i = "/*", i + 1
            elif line.startswith(comments, i) and (i == 0 or line[i - 1] in " \t;"):
                break
            elif ch in multiline_quotes:
                state = ch
            elif ch in "\"'":
                i = _skip_quoted(line, i, ch)
            elif ch == "{":
                depth += 1
            elif ch == "}":
                depth = max(depth - 1, 0)
            i += 1
        ends.append(depth)
    return starts, ends


def _skip_quoted(line: str, i: int, quote: str) -> int:
    """Index of the closing quote of a one-line string or char literal. A lone `'` (a Rust
    lifetime, an apostrophe in a shell heredoc) is not a string."""
    j = i + 1
    while j < len(line):
        if line[j] == "\\":
            j += 2
            continue
        if line[j] == quote:
            return j
        j += 1
    return i


# ---------------------------------------------------------------- YAML, TOML, SQL

_HEADINGS: dict[str, re.Pattern[str]] = {
    "yaml": _C(r"^([A-Za-z_\"'][^:#]*?)\s*:\s*([|>][-+]?\d*)?\s*(#.*)?$"),
    "toml": _C(r"^\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$"),
    "sql": _C(
        r"^\s*((CREATE|ALTER)\s+(OR\s+REPLACE\s+)?(TEMP\w*\s+|UNIQUE\s+|MATERIALIZED\s+)?"
        r"(TABLE|VIEW|INDEX|FUNCTION|PROCEDURE|TRIGGER|TYPE|SCHEMA|SEQUENCE)\s+"
        r"(IF\s+NOT\s+EXISTS\s+)?[\w.\"`]+)",
        re.IGNORECASE,
    ),
}
_HEADING_COMMENT = {"yaml": "#", "toml": "#", "sql": "--"}


def heading_spans(lines: list[str], language: str) -> list[Span]:
    """Sections from heading-like lines: top-level YAML keys that open a block, TOML tables,
    SQL CREATE/ALTER statements. A section runs to the next heading (or YAML `---`); the
    comment lines right above a heading belong to it."""
    pattern, comment = _HEADINGS[language], _HEADING_COMMENT[language]
    heads = [i for i, line in enumerate(lines) if pattern.match(line)]
    firsts = []
    for n, i in enumerate(heads):
        first, floor = i, heads[n - 1] + 1 if n else 0
        while first > floor and lines[first - 1].strip().startswith(comment):
            first -= 1
        firsts.append(first)
    spans: list[Span] = []
    for n, i in enumerate(heads):
        stop = firsts[n + 1] if n + 1 < len(heads) else len(lines)
        if language == "yaml":
            stop = next((k for k in range(i + 1, stop) if lines[k].startswith("---")), stop)
        while stop > i + 1 and not lines[stop - 1].strip():
            stop -= 1
        match = pattern.match(lines[i])
        title = match.group(1).strip() if match else lines[i].strip()
        if language == "yaml":
            title += ":"
        elif language == "toml":
            title = lines[i].split("#")[0].strip()
        spans.append(Span(firsts[n], stop, title))
    return spans
