"""Source code -> one section per function/class, so a citation reads
`deployer.py > class Deployer > def rollback(self, sha)`.

Python is parsed with `ast` (exact spans, decorators included); a file that does not parse
falls back to an indentation heuristic. Brace languages (Go, JS/TS, Java, Kotlin, C#, C/C++,
Rust, shell, Terraform) use definition regexes plus brace matching that skips strings and
comments (`code_scan.py`); YAML, TOML and SQL use heading-like lines (top-level keys, tables,
CREATE statements). Text between definitions stays in the enclosing section.
"""

from __future__ import annotations

import ast
import re

from ingest.formats.base import Block
from ingest.formats.code_scan import Span, brace_spans, heading_spans

CODE_LANGUAGES: dict[str, str] = {
    ".py": "python",
    ".go": "go",
    ".js": "javascript",
    ".jsx": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
    ".ts": "typescript",
    ".tsx": "typescript",
    ".java": "java",
    ".kt": "kotlin",
    ".cs": "csharp",
    ".c": "c",
    ".h": "c",
    ".cc": "cpp",
    ".cpp": "cpp",
    ".hpp": "cpp",
    ".rs": "rust",
    ".sh": "shell",
    ".bash": "shell",
    ".tf": "terraform",
    ".yaml": "yaml",
    ".yml": "yaml",
    ".toml": "toml",
    ".sql": "sql",
}
_HEADING_LANGUAGES = {"yaml", "toml", "sql"}
_TITLE_CHARS = 80


def partition_code(name: str, text: str, language: str) -> list[Block]:
    """Blocks for one source file: the file name as the top title, then a titled section per
    definition whose body is a text block with `language` set."""
    lines = text.splitlines()
    if language == "python":
        spans = python_spans(text)
        if spans is None:
            spans = indent_spans(lines)
    elif language in _HEADING_LANGUAGES:
        spans = heading_spans(lines, language)
    else:
        spans = brace_spans(lines, language)
    blocks = [Block("title", name, depth=0)]
    _emit(lines, spans, 0, len(lines), 0, name, language, blocks)
    return blocks


def _emit(
    lines: list[str],
    spans: list[Span],
    start: int,
    end: int,
    depth: int,
    parent_title: str,
    language: str,
    out: list[Block],
) -> None:
    """Text between spans goes to the parent section (its title is repeated to get back
    there); each span gets a title one level deeper and its own text or children."""
    cursor = start
    for span in spans:
        _text(lines[cursor : span.start], language, out, parent_title, depth, cursor > start)
        out.append(Block("title", _short(span.title), depth=depth + 1))
        if span.children:
            _emit(lines, span.children, span.start, span.end, depth + 1, span.title, language, out)
        else:
            _text(lines[span.start : span.end], language, out, span.title, depth + 1, False)
        cursor = span.end
    _text(lines[cursor:end], language, out, parent_title, depth, cursor > start)


def _text(
    lines: list[str], language: str, out: list[Block], title: str, depth: int, reopen: bool
) -> None:
    body = "\n".join(lines).strip("\n")
    if not any(ch.isalnum() for ch in body):  # blank, or only the closing `}` of a class
        return
    if reopen:  # back in the enclosing section after a nested one
        out.append(Block("title", _short(title), depth=depth))
    out.append(Block("text", body, language=language))


def _short(title: str) -> str:
    title = " ".join(title.split())
    return title if len(title) <= _TITLE_CHARS else title[: _TITLE_CHARS - 3] + "..."


# ---------------------------------------------------------------- Python


def python_spans(text: str) -> list[Span] | None:
    """Top-level functions and classes (with their methods and nested classes), or None
    when the file is not valid Python."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return None
    return _python_children(tree.body)


def _python_children(body: list[ast.stmt]) -> list[Span]:
    spans = []
    for node in body:
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            continue
        first = min([node.lineno] + [d.lineno for d in node.decorator_list])
        span = Span(first - 1, node.end_lineno or node.lineno, _python_title(node))
        if isinstance(node, ast.ClassDef):
            span.children = _python_children(node.body)
        spans.append(span)
    return spans


def _python_title(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> str:
    if isinstance(node, ast.ClassDef):
        bases = ", ".join(ast.unparse(b) for b in node.bases)
        return f"class {node.name}({bases})" if bases else f"class {node.name}"
    a = node.args
    names = [x.arg for x in a.posonlyargs + a.args]
    if a.vararg:
        names.append("*" + a.vararg.arg)
    elif a.kwonlyargs:
        names.append("*")
    names += [x.arg for x in a.kwonlyargs]
    if a.kwarg:
        names.append("**" + a.kwarg.arg)
    prefix = "async def" if isinstance(node, ast.AsyncFunctionDef) else "def"
    return f"{prefix} {node.name}({', '.join(names)})"


_PY_DEF = re.compile(r"^(\s*)(async\s+def|def|class)\s+(\w+)")


def indent_spans(
    lines: list[str], start: int = 0, end: int | None = None, indent: int = 0
) -> list[Span]:
    """Python that `ast` rejects: a `def`/`class` at `indent` runs until the next non-blank
    line indented no deeper than it. Classes get their members as children."""
    end = len(lines) if end is None else end
    spans: list[Span] = []
    i = start
    while i < end:
        match = _PY_DEF.match(lines[i])
        if not match or len(match.group(1)) != indent:
            i += 1
            continue
        stop = i + 1
        while stop < end and (not lines[stop].strip() or _indent(lines[stop]) > indent):
            stop += 1
        while stop > i + 1 and not lines[stop - 1].strip():
            stop -= 1
        first = i
        floor = spans[-1].end if spans else start
        while first > floor and lines[first - 1].strip().startswith(("@", "#")):
            first -= 1  # decorators and comments right above belong to the definition
        span = Span(first, stop, lines[i].strip().rstrip(":"))
        body = [line for line in lines[i + 1 : stop] if line.strip()]
        if match.group(2) == "class" and body:
            span.children = indent_spans(lines, i + 1, stop, _indent(body[0]))
        spans.append(span)
        i = stop
    return spans


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())
