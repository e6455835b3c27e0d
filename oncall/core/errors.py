"""Error types, split by who can act on them.

- `ToolError`: the model can retry; it goes back to the model as a tool message.
- `ConfigError`: a developer mistake found at start-up; names the setting to fix.
- `OncallError(code, detail)`: infrastructure (LLM down, model missing, store unavailable);
  each transport maps it once to what its user sees (CLI message, HTTP status, Slack apology).
"""

from __future__ import annotations


class OncallError(Exception):
    """An infrastructure failure with a stable machine-readable `code` and a human `detail`."""

    def __init__(self, code: str, detail: str):
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


class ConfigError(OncallError):
    """Invalid configuration, raised at start-up."""

    def __init__(self, setting: str, detail: str):
        super().__init__("config", f"{setting}: {detail}")
        self.setting = setting


class ToolError(Exception):
    """A tool call the model can correct (bad arguments, nothing found...)."""
