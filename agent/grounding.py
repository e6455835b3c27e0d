"""Grounded or silent: check each claim of an answer against the evidence it cites.

The model answers as claims, each with the number of its evidence (a retrieved passage or
a tool result), a quote copied from it, and the sentence the user reads
(agent/answering.py). A claim is kept only when

1. its quote is found in the evidence it names (or, if the model cited the wrong number,
   in another item of this question's evidence: the citation moves there);
2. every fact the sentence states (numbers, identifiers, names, commands, config keys)
   that the question did not already contain is in the quoted part of that evidence (the
   lines the quote matched, for passages; the whole result, for tool output); and
3. the question's own identifiers (SEV2, payments-api, a config key) appear in the quoted
   lines or the evidence's title and section: a passage about something else that
   happens to hold the same words does not answer the question.

Checks are lexical and model-free, so they cost microseconds and hold for any model.
Sentences with no fact in them are kept when most of their words are in the quoted lines.
A claim that fails is dropped with its reason; an answer left with no claim abstains.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

MIN_QUOTE_COVERAGE = 0.8  # share of the quote's words found in one window of the evidence
MIN_PROSE_COVERAGE = 0.5  # share of a fact-free sentence's words found in the quoted lines
MIN_QUOTE_WORDS = 2

# Capitalised words that are not names: sentence furniture in answers.
_NOT_NAMES = frozenset(
    """The A An And But Or If When Where Which Who What Why How It Its This That These Those
    There Then They We You Yes No Not Note Use Run Set See Check Open Ask For From With In On
    At To Of By As After Before During Each Every All Any Some One Both Also Only Per Please
    I Is Are Was Be Do Does Our Your""".split()  # noqa: SIM905
)
# Acronyms too common to say what a passage is about.
_COMMON_ACRONYMS = frozenset(
    """API APIS URL URLS HTTP HTTPS CPU RAM SQL JSON YAML CLI UI OK ID IDS PR DNS TLS SSH
    UTC""".split()  # noqa: SIM905
)

_THOUSANDS = re.compile(r"(?<![\d,])\d{1,3}(?:,\d{3})+(?![\d,])")
_CODE_SPAN = re.compile(r"`([^`\n]{1,120})`")
_TOKEN = re.compile(r"[^\s,;()\[\]{}<>\"'“”‘’|]+")
_NUMBER = re.compile(r"^[-+]?\d[\d,]*(?:\.\d+)?%?$")
_CAMEL = re.compile(r"[a-z][A-Z]|[A-Z]{2,}[a-z]")
_WORDS = re.compile(r"[a-z0-9]+|[\u3400-\u9fff]")
_EDGE_PUNCT = ".,:;!?*_~\"'`()[]{}<>"
# CJK runs (and their punctuation) are cut out as tokens of their own: Chinese has no
# spaces, and "SEV2告警须在15分钟内确认" must still yield sev2 and 15.
_CJK_RUN = re.compile(r"([\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]+)")


@dataclass(frozen=True)
class Evidence:
    """One numbered piece of evidence shown to the model for this question."""

    number: int
    text: str
    title: str = ""  # where it is: "runbooks/payments-api-5xx › Mitigation", "get_oncall(...)"
    kind: str = "doc"  # "doc" (a retrieved passage) or "tool" (a tool's result)


@dataclass(frozen=True)
class Claim:
    source: int  # evidence number the model cited (0: none)
    quote: str
    text: str
    # False for a free-text answer split into sentences (a server without structured
    # output): there is no quote, so the facts are checked against the whole evidence.
    quoted: bool = True


@dataclass(frozen=True)
class Verdict:
    claim: Claim
    ok: bool
    reason: str  # why it was dropped ("" when kept)
    evidence: Evidence | None = None  # what it is grounded in (may differ from claim.source)


@dataclass
class Grounded:
    """The kept claims, the dropped ones with reasons, and whether anything survived."""

    kept: list[Verdict] = field(default_factory=list)
    dropped: list[Verdict] = field(default_factory=list)

    @property
    def supported(self) -> bool:
        return bool(self.kept)


# --- facts ------------------------------------------------------------------------------


def normalise(text: str) -> str:
    """Case, width and punctuation variants folded; markdown table pipes and emphasis gone;
    thousands separators dropped (1,000 -> 1000)."""
    text = _THOUSANDS.sub(_drop_commas, unicodedata.normalize("NFKC", text))
    text = text.replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"')
    text = re.sub(r"[–—−]", "-", text)
    text = re.sub(r"[|*]+", " ", text)
    return re.sub(r"\s+", " ", text).strip().lower()


def _drop_commas(match: re.Match[str]) -> str:
    return match.group(0).replace(",", "")


def _norm_number(token: str) -> str:
    token = token.rstrip("%").lstrip("+")
    if re.fullmatch(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?", token):
        token = token.replace(",", "")
    if "." in token:
        token = token.rstrip("0").rstrip(".") or "0"
    return token


def facts(text: str, names: bool = True) -> set[str]:
    """The checkable facts a text states: numbers, identifiers (anything with a digit, a
    `-_./:` joint, camelCase or an acronym), `code spans`, and capitalised names not at
    the start of a sentence. Normalised so that "1,000" and "1000", "2.4%" and "2.4", or
    "`Payments-API`" and "payments-api" compare equal."""
    found: set[str] = set()
    for span in _CODE_SPAN.findall(text):
        found.add(normalise(span).strip(_EDGE_PUNCT))
    sentence_start = True
    plain = _THOUSANDS.sub(_drop_commas, _CODE_SPAN.sub(" ", text))
    for raw in _TOKEN.findall(_CJK_RUN.sub(r" \1 ", plain)):
        token = raw.strip(_EDGE_PUNCT)
        starts = sentence_start
        sentence_start = raw.endswith((".", "!", "?", ":")) and not _NUMBER.match(token)
        if not token:
            continue
        kind = _fact_kind(token, starts and names)
        if kind == "number":
            found.add(_norm_number(token))
        elif kind:
            found.add(normalise(token))
    return found


def _fact_kind(token: str, at_sentence_start: bool) -> str:
    if _NUMBER.match(token):
        return "number"
    has_digit = any(c.isdigit() for c in token)
    has_alpha = any(c.isalpha() for c in token)
    if has_digit and has_alpha:
        return "identifier"  # SEV2, p95, v1.2.3, 2027-02-15, 5xx
    if has_digit and re.search(r"\d[-:/.]\d", token):
        return "identifier"  # dates, times, versions
    if not has_alpha:
        return ""
    inner = token.strip("-_./:")
    if re.search(r"[a-zA-Z0-9][_./:][a-zA-Z0-9]", inner) or inner.count("-") >= 2:
        return "identifier"  # snake_case, dotted.keys, paths, multi-hyphen names
    if "-" in inner and (any(c.isupper() for c in inner) or len(inner) > 12):
        return "identifier"  # Kestrel-PSP, route-optimizer
    if _CAMEL.search(inner):
        return "identifier"  # PaymentsApiHigh5xxRate, gRPC
    if inner.isupper() and len(inner) >= 2 and inner not in _COMMON_ACRONYMS:
        return "identifier"  # PSP, SEV, RPO
    if inner[:1].isupper() and not at_sentence_start and inner not in _NOT_NAMES:
        return "name"  # Priya Raman, Tuesday, Frankfurt
    return ""


_PARTS = re.compile(
    r"(?<=[?？])\s*|\s*[;；]\s*|\s+and (?=(?:who|what|when|where|which|how|is|are)\b)"
)


def question_parts(question: str) -> list[str]:
    """The parts of a question that asks several things ("X? And who Y?")."""
    parts = [p.strip(" ,") for p in _PARTS.split(question) if p and p.strip(" ,?？")]
    return parts or [question]


def subject_terms(question: str) -> set[str]:
    """The question's identifiers (no names: a question's capitalised words are often just
    emphasis): what a passage must be about to answer it."""
    return {
        normalise(t.strip(_EDGE_PUNCT))
        for t in _TOKEN.findall(_CJK_RUN.sub(r" \1 ", question))
        if _fact_kind(t.strip(_EDGE_PUNCT), at_sentence_start=True) == "identifier"
    }


_STOP = frozenset(
    re.findall(r"\w+", "the a an is are be to of and or in on for it this that with by as at you")
) | {"your", "should", "can"}


# --- quotes -----------------------------------------------------------------------------


def _words(text: str) -> list[str]:
    return _WORDS.findall(normalise(text))


def locate_quote(quote: str, text: str) -> tuple[float, str]:
    """How much of `quote` one stretch of `text` contains (0-1), and the lines (sentences,
    in prose) of `text` that stretch covers. Tolerant of case, punctuation, table pipes and
    a few changed words, not of a quote assembled from far-apart places."""
    q = _words(quote)
    if len(q) < MIN_QUOTE_WORDS:
        return 0.0, ""
    lines = _units(text)
    line_words = [_words(line) for line in lines]
    flat = [(i, w) for i, ws in enumerate(line_words) for w in ws]
    if not flat:
        return 0.0, ""
    want = Counter(q)
    size = min(len(flat), max(len(q), int(len(q) * 1.5) + 2))
    best = -1
    window: Counter[str] = Counter(w for _, w in flat[:size])
    for start in range(0, len(flat) - size + 1):
        if start:
            window[flat[start - 1][1]] -= 1
            window[flat[start + size - 1][1]] += 1
        score = sum(min(n, window[w]) for w, n in want.items())
        best = max(best, score)
    first, last = _tightest_span(flat, want, best)
    return best / len(q), "\n".join(lines[first : last + 1])


_UNIT_END = re.compile(r"(?<=[.;!?。；！？])\s+(?=\S)")


def _units(text: str) -> list[str]:
    """Lines, and the sentences of long lines: the smallest pieces a quote can vouch for
    (a table row; one sentence of a paragraph, not its neighbour)."""
    units: list[str] = []
    for line in text.splitlines() or [text]:
        units.extend(_UNIT_END.split(line) if len(line) > 80 else [line])
    return units


def _tightest_span(flat: list[tuple[int, str]], want: Counter[str], best: int) -> tuple[int, int]:
    """Line numbers of the shortest stretch of words that still matches `best` quote words,
    so that a quote of one table row does not vouch for the row above it."""
    have: Counter[str] = Counter()
    score, left, span = 0, 0, (0, len(flat) - 1)
    for right, (_, word) in enumerate(flat):
        if have[word] < want[word]:
            score += 1
        have[word] += 1
        while score >= best and left <= right:
            if right - left < span[1] - span[0]:
                span = (left, right)
            gone = flat[left][1]
            have[gone] -= 1
            if have[gone] < want[gone]:
                score -= 1
            left += 1
    return flat[span[0]][0], flat[span[1]][0]


# --- verdicts ---------------------------------------------------------------------------


def check_claims(claims: Sequence[Claim], evidence: Sequence[Evidence], question: str) -> Grounded:
    """Keep the claims their evidence supports (module docstring); drop the rest."""
    result = Grounded()
    spaced = _CJK_RUN.sub(r" \1 ", question)
    asked = facts(question, names=False) | {
        normalise(w.strip(_EDGE_PUNCT)) for w in _TOKEN.findall(spaced)
    }
    parts = question_parts(question)
    for claim in claims:
        subject = subject_terms(_part_for(claim, parts))
        verdict = _verdict(claim, evidence, asked, subject)
        (result.kept if verdict.ok else result.dropped).append(verdict)
    return result


def _part_for(claim: Claim, parts: list[str]) -> str:
    """The part of the question a claim answers: the one sharing most words with it (a
    claim about the rollback need not be about the SEV2 that another part asks about)."""
    if len(parts) == 1:
        return parts[0]
    said = set(_words(f"{claim.text} {claim.quote}")) - _STOP
    return max(parts, key=lambda part: len(said & set(_words(part))))


def _verdict(
    claim: Claim, evidence: Sequence[Evidence], asked: set[str], subject: set[str]
) -> Verdict:
    if not claim.text.strip():
        return Verdict(claim, False, "empty sentence")
    by_number = {e.number: e for e in evidence}
    # The cited item first, then the others: small models often cite the wrong number.
    order = [by_number[claim.source]] if claim.source in by_number else []
    order += [e for e in evidence if e.number != claim.source]
    reasons = []
    for item in order:
        reason = _unsupported(claim, item, asked, subject)
        if reason is None:
            return Verdict(claim, True, "", item)
        reasons.append(reason)
    return Verdict(claim, False, reasons[0] if reasons else "no evidence")


def _unsupported(claim: Claim, item: Evidence, asked: set[str], subject: set[str]) -> str | None:
    """Why `item` does not support `claim`, or None if it does."""
    if item.kind == "tool":
        lines = item.text  # tool results are short and structured: all of it counts
        # The quote is optional for tools (JSON is hard to quote); a wrong one is not.
        quoted = locate_quote(claim.quote, item.text)[0] >= MIN_QUOTE_COVERAGE
        wrong = not _all_in(facts(claim.quote) - asked, normalise(item.text))
        if claim.quote.strip() and not quoted and wrong:
            return f"quote not in [{item.number}]"
    elif not claim.quoted:
        lines = item.text
    else:
        coverage, lines = locate_quote(claim.quote, item.text)
        if coverage < MIN_QUOTE_COVERAGE:
            return f"quote not found in [{item.number}]"
    where = normalise(f"{item.title}\n{lines}")
    new = facts(claim.text) - asked
    missing = sorted(f for f in new if not _contains(where, f))
    if missing:
        return f"[{item.number}] does not say {', '.join(missing[:3])}"
    off_subject = sorted(t for t in subject if not _contains(where, t))
    if off_subject and item.kind == "doc":
        return f"[{item.number}] is not about {', '.join(off_subject[:3])}"
    # A fact-free sentence in another language than the evidence (a Chinese answer over
    # English docs) cannot be compared word by word: its matched quote is the check.
    cjk = len(_CJK_RUN.findall(claim.text)) > 0 and not re.search(r"[a-zA-Z]{3}", claim.text)
    if not new and not cjk and _coverage(claim.text, where, asked) < MIN_PROSE_COVERAGE:
        return f"[{item.number}] does not say this"
    return None


def _contains(haystack: str, fact: str) -> bool:
    """`fact` (normalised) occurs in `haystack` (normalised) as a whole token; numbers also
    match with thousands separators or trailing zeros written differently."""
    if re.fullmatch(r"-?\d+(?:\.\d+)?", fact):
        numbers = {_norm_number(n) for n in re.findall(r"(?<![\w.])-?\d[\d,]*(?:\.\d+)?", haystack)}
        return fact in numbers
    pattern = r"(?<![a-z0-9])" + re.escape(fact) + r"(?![a-z0-9])"
    return re.search(pattern, haystack) is not None


def _all_in(found: set[str], haystack: str) -> bool:
    return all(_contains(haystack, f) for f in found)


def _coverage(sentence: str, where: str, asked: set[str]) -> float:
    """Share of the sentence's content words (beyond the question's) found in `where`."""
    stop = _STOP
    words = [w for w in _words(sentence) if w not in stop and w not in asked]
    if not words:
        return 1.0
    present = set(_words(where))
    return sum(w in present for w in words) / len(words)
