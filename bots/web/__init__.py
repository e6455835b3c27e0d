"""Web chat, JSON API and OpenAI-compatible endpoint (`oncall serve`)."""

from bots.web.app import create_app

__all__ = ["create_app"]
