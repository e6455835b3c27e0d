"""oncall-agent's own layers that are not one of the design card's top-level folders.

- `oncall.core`: ground modules (settings, errors, identity, redaction); imports nothing of
  ours.
- `oncall.llm`: the model runtime (chat client, tool-call parsing, context budget, the
  llama.cpp and vLLM server processes).
- `oncall.cli`: the `oncall` command and the composition root that builds `Deps`.
- `oncall.testing`: fakes shared by the tests and the benchmarks; never imported by the
  product.

The layers, top to bottom, are written as import-linter contracts in pyproject.toml.
"""
