"""Request and response bodies of the JSON API (they make the OpenAPI document)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agent.service import MAX_QUESTION_CHARS


class Strict(BaseModel):
    """Unknown fields are an error: a typo ("thread" for "thread_id") must not be ignored."""

    model_config = ConfigDict(extra="forbid")


class LoginRequest(Strict):
    username: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=1, max_length=1000)


class Me(BaseModel):
    user_id: str
    name: str
    groups: list[str]
    auth: Literal["login", "header"]
    max_attachment_kb: int = Field(
        0, description="Attached data files may total this much per question (0: none taken)."
    )


class AttachmentIn(Strict):
    """A text data file for a computation (the page reads an uploaded file as text)."""

    name: str = Field(
        min_length=1, max_length=200, description="The file's name; its extension says the type."
    )
    content: str = Field(description="The file's text (CSV, TSV, JSON, JSONL, log, txt).")


class AskRequest(Strict):
    question: str = Field(
        min_length=1, max_length=MAX_QUESTION_CHARS, description="The question, plain text."
    )
    thread_id: str | None = Field(
        None, max_length=100, description="Continue this conversation (yours); omit to start one."
    )
    route: Literal["direct", "deep"] | None = Field(
        None, description='Force the route; "deep" is the page\'s "think harder".'
    )
    attachments: list[AttachmentIn] = Field(
        default_factory=list,
        description="Data files for a computation (at most 3, web.max_attachment_kb in all); "
        "they reach the sandbox as files, never the model's prompt whole.",
    )


class ApprovalRequest(Strict):
    approved: bool = Field(description="true runs the pending write action; false rejects it.")


class FeedbackRequest(Strict):
    """TurnRecorder feedback format (docs/evals.md "The feedback flywheel")."""

    turn_id: str = Field(min_length=1, max_length=100)
    helpful: bool
    comment: str = Field("", max_length=4000)
    edited_answer: str | None = Field(None, max_length=20000)
    escalated: bool = False


class Conversation(BaseModel):
    id: str
    title: str
    created_at: float
    updated_at: float


class ConversationList(BaseModel):
    conversations: list[Conversation]


class ConversationHistory(BaseModel):
    id: str
    turns: list[dict[str, Any]] = Field(description="Answer payloads, oldest first.")
    pending: list[dict[str, Any]] = Field(description="Write actions waiting for approval.")


class AnswerPayload(BaseModel):
    """One turn as the page renders it (see bots/web/payloads.py)."""

    model_config = ConfigDict(extra="allow")
    question: str
    answer: str
    thread_id: str
    turn_id: str | None
    route: str
    citations: list[dict[str, Any]]
    pending: dict[str, Any] | None


class ErrorBody(BaseModel):
    error: dict[str, str] = Field(description="{code, message, type}")
