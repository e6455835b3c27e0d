"""Test doubles shared by the test tiers and the benchmarks (scripted chat models, fake
embedder and store, fake Slack / vLLM / arXiv servers). Product code never imports this."""
