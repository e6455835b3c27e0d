"""Auto-think router: DIRECT (one retrieval + one LLM call, thinking off) or DEEP (tool loop,
thinking on), decided before any answer is generated.

Why a classifier and not an LLM call: even a one-token constrained call to the embedded 0.5B
model pays prompt prefill (measured 210 tok/s here: ~1 s for a 200-token routing prompt,
seconds for a pasted function). This router costs one MiniLM query embedding of at most
300 characters (~10-25 ms on a 2-core CPU) plus features and a dot product (~0.2 ms), and
scores 0.88 accuracy in grouped cross-validation on `routing_dev_*` (en 0.89, zh 0.86; the
exact figures are in the artefact's `meta.cv`). The ceiling is CS-Bench's own
"Knowledge" vs "Reasoning" tags, which even careful reading often cannot tell apart.

Features, one vector scored by a logistic regression whose weights (feature scaling and a
Platt calibration folded in) live in `router_model.json`, trained by scripts/train_router.py:
- the all-MiniLM-L6-v2 embedding (384-d; the topic; English-centric);
- 24 language-independent hand features: length, lines, CJK/digit/operator ratios, how
  many numbers (in the stem of a multiple-choice question too), and counts of en/zh cue
  patterns (calculate/多少, why/证明, code, wh-words, small talk, options, LaTeX, blanks,
  conditionals, diagnose/排查, "which is incorrect", a, b, c sequences, code symbols, units);
- optionally hashed character 1-3-grams (`ngram_dim` > 0); CV found no gain from them over
  the hand features, so the shipped artefact leaves them out.
Only numpy runs here; scikit-learn is used by the training script alone.
"""

from __future__ import annotations

import json
import math
import re
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from oncall.core.errors import ConfigError

Route = Literal["direct", "deep"]
DEFAULT_ARTEFACT = Path(__file__).parent / "router_model.json"  # multilingual-e5-small
# One artefact per shipped embedder: the weights only make sense with the embedder they
# were trained on (both give 384-d vectors, so the size alone cannot tell them apart).
ARTEFACTS = (DEFAULT_ARTEFACT, Path(__file__).parent / "router_model_minilm.json")
FORMAT_VERSION = 1
MAX_CHARS = 1000  # features look at this much of a pasted function or log
EMBED_CHARS = 300  # embedding cost grows with length; CV accuracy is the same as with 1000
_RETRAIN = "run python scripts/train_router.py"


@dataclass(frozen=True)
class RouteDecision:
    route: Route
    confidence: float  # probability of the chosen route, 0.5-1.0
    reason: str
    source: Literal["override", "classifier", "rule"]


# A question naming a paper (arXiv, a PDF link, an arXiv-style id next to "paper") needs the
# summarize_paper tool, which only DEEP offers; the classifier, trained on doc questions,
# sends such questions DIRECT (p(deep) 0.03-0.33 on four examples).
_PAPER_REF = re.compile(r"\barxiv\b|https?://\S+\.pdf\b", re.I)
_PAPER_ID = re.compile(r"\b\d{4}\.\d{4,5}(?:v\d+)?\b")
_PAPER_WORD = re.compile(r"\bpapers?\b|论文", re.I)


def names_a_paper(question: str) -> bool:
    """True when the question points at a specific paper (see above)."""
    if _PAPER_REF.search(question):
        return True
    return bool(_PAPER_ID.search(question) and _PAPER_WORD.search(question))


# --- explicit overrides typed by the user ------------------------------------------------

_DEEP_ANYWHERE = re.compile(
    r"\bthink\s+step[\s-]+by[\s-]+step\b|仔细想想|深入思考|(?:^|\s)/deep(?=\s|$)", re.I
)
# "think hard(er)" only as a request: followed by an end or a request word ("I think hard
# drives fail" and "I think the deploy is hard to roll back" must not trigger).
_THINK_HARD = re.compile(
    r"(?<![\w'])([\w']+\s+)?think\s+hard(?:er)?"
    r"(?=\s*(?:$|[.!?,;:)\]]|(?:about|on|here|please|pls|first|before|this|it|now)\b))",
    re.I,
)
_DEEP_DIVE = re.compile(
    r"^\W*(?:please\s+)?deep[\s-]dive\b"
    r"|\b(?:do|give\s+me|need|want|run)\s+(?:a\s+)?deep[\s-]dive\b"
    r"|\bdeep[\s-]dive\s+(?:into|please)\b|\bdeep[\s-]dive\W*$",
    re.I,
)
_DIRECT = re.compile(
    r"(?:^|\s)/direct(?=\s|$)|\bjust\s+answer\b"
    r"|^\W*quick\s+answer\b|\b(?:give\s+me|need|want|get)\s+a\s+quick\s+answer\b"
    r"|\bquick\s+answer\s*(?:please|pls)?\s*(?:[.!:,;-]|$)",
    re.I,
)
_SUBJECTS = {"i", "we", "they", "you", "he", "she", "people", "really", "don't", "dont"}


def detect_override(question: str) -> Route | None:
    """The route the user asked for in the text, or None. Deep wins if both are present."""
    if _DEEP_ANYWHERE.search(question) or _DEEP_DIVE.search(question):
        return "deep"
    for match in _THINK_HARD.finditer(question):
        before = (match.group(1) or "").strip().lower()
        if before not in _SUBJECTS:
            return "deep"
    if _DIRECT.search(question):
        return "direct"
    return None


# --- features (shared with scripts/train_router.py) --------------------------------------

_CJK = re.compile(r"[\u4e00-\u9fff]")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_OPERATORS = frozenset("+-*/=^<>%√×÷")
_OPTION = re.compile(r"\n\s*[A-D][.)、．]")  # multiple-choice options
_CUES = {
    "calc": r"\b(?:calculate|compute|how many|how much|total|average|percent\w*|probability"
    r"|sum of|solve|evaluate|p\d\d)\b|计算|多少|几|求|平均|一共|至少|最多|百分|总共",
    "prove": r"\b(?:prove|show that|derive|why|explain|justify|reason\w*)\b|证明|为什么|推导|理由",
    "code": r"\b(?:def|return|function|implement|program|code|regex|script|class|algorithm"
    r"|python|sql|query|bash|one-liner)\b|编写|实现|代码|程序|函数|正则",
    "wh": r"^(?:who|when|where|what is|what are|which|name)\b|\b(?:who|when|where)\b"
    r"|谁|哪里|哪儿|什么时候|是什么",
    "chat": r"\b(?:you|your|thanks|thank|hello|hi|joke|bye)\b",
    "options": _OPTION.pattern,
    "latex": r"\$|\\[a-z]+|\[asy\]",
    "blank": r"\(\s*\)|（\s*）",
    "conditional": r"\b(?:if|then|given|suppose|assume|after|before|during)\b|如果|假设|若|则",
    "diagnose": r"\b(?:compare|diagnos\w*|debug|root cause|investigate|troubleshoot"
    r"|walk me through|figure out|what should i do)\b|分析|排查|比较|怎么处理|原因",
    # "which statement is incorrect": every option must be checked
    "judge": r"\b(?:correct|incorrect|true|false|wrong|cannot|impossible|not)\b"
    r"|正确|错误|不能|不可能|不是",
    "sequence": r"(?:[a-z0-9]\s*[,，、]\s*){3,}",  # a, b, c, d: trace an algorithm by hand
    "code_symbols": r"->|=>|[{};\[\]]|==|!=|<=|>=",
    "units": r"\d\s*(?:[kmg]?b(?:/s|ps)?|[kmg]?hz|bits?|bytes?|ms|μs|ns|rps|qps)\b"
    r"|\d\s*(?:位|字节|个|元|米|厘米|千克|克|分钟|小时|天|人|岁|页|本|吨|毫秒)",
}
_CUE_PATTERNS = tuple(re.compile(p, re.I) for p in _CUES.values())
HAND_FEATURES = (
    "log_chars", "log_lines", "cjk_ratio", "digit_ratio", "operator_ratio", "log_numbers",
    "log_distinct_numbers", "log_stem_numbers", "log_words", "ends_with_question",
    *(f"cue_{k}" for k in _CUES),
)  # fmt: skip


def hand_features(question: str) -> np.ndarray:
    """Cheap language-independent features, in the order of `HAND_FEATURES`."""
    q = question[:MAX_CHARS]
    n = max(len(q), 1)
    numbers = _NUMBER.findall(q)
    values = [
        math.log1p(len(q)),
        math.log1p(q.count("\n")),
        len(_CJK.findall(q)) / n,
        sum(c.isdigit() for c in q) / n,
        sum(c in _OPERATORS for c in q) / n,
        math.log1p(len(numbers)),
        math.log1p(len(set(numbers))),
        math.log1p(len(_NUMBER.findall(_OPTION.split(q, maxsplit=1)[0]))),  # before the options
        math.log1p(len(q.split())),
        float(q.rstrip().endswith(("?", "？"))),
    ]
    values += [math.log1p(len(p.findall(q))) for p in _CUE_PATTERNS]
    return np.asarray(values, dtype=np.float64)


def ngram_features(question: str, dim: int, sizes: tuple[int, ...] = (1, 2, 3)) -> np.ndarray:
    """Hashed character n-grams: log counts, unit length. Digits fold to 0."""
    text = " " + _NUMBER.sub("0", re.sub(r"\s+", " ", question[:MAX_CHARS].lower())) + " "
    grams = (text[i : i + k] for k in sizes for i in range(len(text) - k + 1))
    index = [zlib.crc32(g.encode()) % dim for g in grams]
    vec = np.log1p(np.bincount(index, minlength=dim).astype(np.float64))
    norm = float(np.linalg.norm(vec))
    return vec / norm if norm else vec


def feature_vector(question: str, embedding: np.ndarray, ngram_dim: int) -> np.ndarray:
    """[embedding | hand features | hashed n-grams]; the layout the artefact's weights use."""
    parts = [np.asarray(embedding, dtype=np.float64), hand_features(question)]
    if ngram_dim:
        parts.append(ngram_features(question, ngram_dim))
    return np.concatenate(parts)


def embed_text(question: str) -> str:
    """What goes to the embedder (training and inference must agree)."""
    return question[:EMBED_CHARS]


# --- artefact and router -----------------------------------------------------------------


@dataclass(frozen=True)
class RouterArtefact:
    """A trained linear model; `weights`/`bias` give the calibrated logit of p(deep)."""

    weights: np.ndarray
    bias: float
    threshold: float
    embedding_dim: int
    ngram_dim: int
    metadata: dict[str, Any]


def load_router_artefact(
    path: Path | str | None = None, embedder: str | None = None
) -> RouterArtefact:
    """Read the trained router (`path`, else the shipped one trained on `embedder`, else the
    default); raises `ConfigError` naming the fix if absent, unusable or for another embedder."""
    if path is None and embedder is not None:
        path = _artefact_for(embedder)
    where = Path(path) if path is not None else DEFAULT_ARTEFACT
    try:
        data = json.loads(where.read_text(encoding="utf-8"))
        features = data["features"]
        if data["format"] != FORMAT_VERSION or list(features["hand"]) != list(HAND_FEATURES):
            raise ValueError("written by another version of the router")
        weights = np.asarray(data["weights"], dtype=np.float64)
        emb_dim, ngram_dim = int(features["embedding_dim"]), int(features["ngram_dim"])
        if weights.shape != (emb_dim + len(HAND_FEATURES) + ngram_dim,):
            raise ValueError(f"{weights.shape[0]} weights do not match the feature layout")
        threshold = float(data["threshold"])
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"threshold {threshold} is not in (0, 1)")
        return RouterArtefact(
            weights, float(data["bias"]), threshold, emb_dim, ngram_dim, data.get("meta", {})
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError("router", f"cannot load {where} ({exc}); {_RETRAIN}") from exc


def _artefact_for(embedder: str) -> Path:
    trained_on = {}
    for candidate in ARTEFACTS:
        try:
            meta = json.loads(candidate.read_text(encoding="utf-8")).get("meta", {})
        except (OSError, ValueError):
            continue
        trained_on[str(meta.get("embedder"))] = candidate
    if embedder not in trained_on:
        raise ConfigError(
            "router",
            f"no shipped router was trained on embedder {embedder!r} (only on "
            f"{', '.join(map(repr, sorted(trained_on)))}); run python scripts/train_router.py "
            "--out PATH and set it, or pick one of those embedders",
        )
    return trained_on[embedder]


class QueryEmbedder(Protocol):
    def embed_query(self, text: str) -> list[float]: ...


class Router:
    """Decides DIRECT or DEEP: caller override, then the user's words, then the classifier."""

    def __init__(self, embedder: QueryEmbedder, artefact: RouterArtefact):
        self._embedder = embedder
        self._model = artefact

    def p_deep(self, question: str) -> float:
        """Calibrated probability that the question needs DEEP."""
        embedding = np.asarray(self._embedder.embed_query(embed_text(question)))
        if embedding.shape != (self._model.embedding_dim,):
            raise ConfigError(
                "router",
                f"the embedder gives {embedding.shape[0]}-d vectors but the artefact was "
                f"trained on {self._model.embedding_dim}-d ones; {_RETRAIN}",
            )
        x = feature_vector(question, embedding, self._model.ngram_dim)
        z = float(x @ self._model.weights) + self._model.bias
        return 1.0 / (1.0 + math.exp(-max(min(z, 30.0), -30.0)))

    def decide(self, question: str, override: Route | None = None) -> RouteDecision:
        """Route one question. Pure apart from the embedding call; ~1 ms beyond it."""
        if override is not None:
            return RouteDecision(override, 1.0, f"{override} requested by the caller", "override")
        asked = detect_override(question)
        if asked is not None:
            why = "user asked to think harder" if asked == "deep" else "user asked to keep it quick"
            return RouteDecision(asked, 1.0, why, "override")
        if names_a_paper(question):
            why = "names a paper: summarize_paper runs in the DEEP tool loop"
            return RouteDecision("deep", 1.0, why, "rule")
        p = self.p_deep(question)
        route: Route = "deep" if p >= self._model.threshold else "direct"
        # With a threshold off 0.5, p can sit between the two: a coin flip, reported as 0.5.
        confidence = max(p if route == "deep" else 1.0 - p, 0.5)
        reason = f"classifier p(deep)={p:.2f}, threshold {self._model.threshold:.2f}"
        return RouteDecision(route, round(confidence, 4), reason, "classifier")
