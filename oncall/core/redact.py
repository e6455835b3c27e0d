"""Secret redaction: the one place that knows what a secret looks like.

Used on everything that leaves the agent or is written down: tool output and retrieved
text before the model reads it, answers before the user reads them, questions before
they are stored, the internal-tool audit log (tools/internal/audit.py) and log records
(`install_log_redaction`). Two kinds of evidence:

- **known values**: the configured secrets (every `SecretStr` in `Settings`, catalogue
  API keys) and the asker's own token, cut out wherever they appear;
- **patterns**: formats that are secrets whoever wrote them (Slack `xox*` tokens, bearer
  credentials, AWS keys, private-key blocks, passwords in URLs and `password=` pairs,
  GitHub/OpenAI-style keys, JWTs), and high-entropy values assigned to a name that says
  token/secret/key.

Redaction is deliberately conservative about prose: a value after "key" is cut only if it
looks random (long, mixed digits and letters, high entropy), so "primary key = id" or
"key: payments-api-runbook" survive.
"""

from __future__ import annotations

import logging
import math
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, SecretStr

REDACTED = "[redacted]"
# Mapping keys whose values are never written down, whatever they contain (audit log).
SENSITIVE_KEY = re.compile(
    r"pass(word|wd)?|secret|token|api[-_]?key|auth|credential|cookie|session|private",
    re.IGNORECASE,
)
_MIN_SECRET_LEN = 4  # shorter "secrets" would redact ordinary words

# Whole matches are secrets.
_WHOLE = [
    re.compile(
        r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----.*?"
        r"(?:-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|\Z)",
        re.DOTALL,
    ),
    re.compile(r"\bxox[abposrce]-[A-Za-z0-9-]{10,}"),  # Slack bot/user/app-config tokens
    re.compile(r"\bxapp-\d-[A-Za-z0-9-]{10,}"),  # Slack app-level tokens
    re.compile(r"https://hooks\.slack\.com/services/[A-Za-z0-9/_-]+"),
    re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA)[0-9A-Z]{16}\b"),  # AWS access key ids
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}|\bgithub_pat_[A-Za-z0-9_]{30,}"),
    re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}"),  # GitLab
    re.compile(r"\bsk-(?:proj-|ant-|live-|test-)?[A-Za-z0-9_-]{20,}"),  # OpenAI/Anthropic/Stripe
    re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"),  # Google API keys
    re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),  # JWT
]
# (prefix kept, value redacted): credentials after a scheme word or inside a URL.
_BEARER = re.compile(r"(?i)\b(bearer|basic)(\s+)([A-Za-z0-9._~+/=-]{12,})")
_URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^\s:/@]+:)([^\s@/]+)(@)", re.IGNORECASE)
_PASSWORD_PAIR = re.compile(
    r"(?i)\b([\w.-]*(?:password|passwd|pwd|passphrase)[\w.-]*[\"']?\s*[=:]\s*[\"']?)"
    r"([^\s\"'&;,]{3,})"
)
_SECRET_PAIR = re.compile(
    r"(?i)\b([\w.-]*(?:token|secret|api[_-]?key|access[_-]?key|private[_-]?key|key|"
    r"credentials?|signature)[\w.-]*[\"']?\s*[=:]\s*[\"']?)([A-Za-z0-9/+_.~=-]{15,}[A-Za-z0-9/+_~=-])"
)
_IDENTIFIER = re.compile(r"[a-z]+(?:[-_.][a-z0-9]+)+")  # payments-api-5xx-runbook


def redact_text(text: str, known: Iterable[str] = ()) -> str:
    """`text` with known secret values and secret-shaped strings replaced by `[redacted]`."""
    if not text:
        return text
    for secret in _known(known):
        text = text.replace(secret, REDACTED)
    for pattern in _WHOLE:
        text = pattern.sub(REDACTED, text)
    text = _BEARER.sub(lambda m: f"{m[1]}{m[2]}{REDACTED}", text)
    text = _URL_PASSWORD.sub(lambda m: f"{m[1]}{REDACTED}{m[3]}", text)
    text = _PASSWORD_PAIR.sub(_password_value, text)
    return _SECRET_PAIR.sub(lambda m: m[1] + (REDACTED if looks_random(m[2]) else m[2]), text)


def _password_value(match: re.Match[str]) -> str:
    # "password=x" is always a credential; "password: see the vault" is prose, so after a
    # colon only a value with a digit, capital or symbol is taken for a password.
    label, value = match[1], match[2]
    if value == REDACTED or ("=" not in label and value.isalpha() and value.islower()):
        return label + value
    return label + REDACTED


def contains_secret(text: str, known: Iterable[str] = ()) -> bool:
    """Whether `redact_text` would change `text` (scans of logs and outputs in tests)."""
    return redact_text(text, known) != text


def looks_random(value: str) -> bool:
    """A generated credential rather than a word or an identifier: long, letters and
    digits mixed, and at least 3.5 bits of entropy per character."""
    if len(value) < 16 or _IDENTIFIER.fullmatch(value.lower()):
        return False
    has_digit = any(c.isdigit() for c in value)
    has_alpha = any(c.isalpha() for c in value)
    return has_digit and has_alpha and _entropy(value) >= 3.5


def redact(value: Any, secrets: Iterable[str] = ()) -> Any:
    """A copy of `value` with sensitive mapping keys blanked and every string redacted
    (`redact_text`), at any depth: for structured records such as audit-log arguments."""
    return _redact(value, _known(secrets))


def _redact(value: Any, known: list[str]) -> Any:
    if isinstance(value, Mapping):
        return {
            k: REDACTED if SENSITIVE_KEY.search(str(k)) else _redact(v, known)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_redact(v, known) for v in value]
    if isinstance(value, str):
        return redact_text(value, known)
    return value


def _known(secrets: Iterable[str]) -> list[str]:
    # Longest first, so a secret containing another is cut whole.
    unique = {s for s in secrets if s and len(s) >= _MIN_SECRET_LEN}
    return sorted(unique, key=len, reverse=True)


def _entropy(value: str) -> float:
    counts: dict[str, int] = {}
    for char in value:
        counts[char] = counts.get(char, 0) + 1
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


def secret_values(settings: BaseModel) -> list[str]:
    """Every `SecretStr` value set in a settings model (nested models included): the
    known secrets of a deployment, redacted wherever they show up."""
    found: list[str] = []
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            found.append(value.get_secret_value())
        elif isinstance(value, BaseModel):
            found.extend(secret_values(value))
    return [s for s in found if s and len(s) >= _MIN_SECRET_LEN]


# --- logs -------------------------------------------------------------------------------

_log_secrets: set[str] = set()
_log_lock = threading.Lock()
_installed = False


def install_log_redaction(known: Iterable[str] = ()) -> None:
    """Redact every log record of this process (any logger, any handler, exception text
    included) as it is created. Idempotent; later calls add more known secrets."""
    global _installed
    with _log_lock:
        _log_secrets.update(_known(known))
        if _installed:
            return
        _installed = True
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        _scrub_record(record)
        return record

    logging.setLogRecordFactory(factory)


def _scrub_record(record: logging.LogRecord) -> None:
    known = _known(_log_secrets)
    try:
        message = record.getMessage()
    except (TypeError, ValueError):  # a broken format string: keep the raw parts
        message = f"{record.msg} {record.args}"
    record.msg, record.args = redact_text(message, known), None
    if record.exc_info and not record.exc_text:
        record.exc_text = redact_text(logging.Formatter().formatException(record.exc_info), known)
    if record.stack_info:
        record.stack_info = redact_text(record.stack_info, known)
