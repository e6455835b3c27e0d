"""Button clicks: feedback, show code, think harder, escalate, approve / reject a write.

Each handler runs on the bot's worker pool (the click was acknowledged already). A button
carries a reference to what the bot stored when it posted the message (`SlackStore.refs`),
so a click still works after a restart; a reference that is gone answers "expired".
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from bots.slack import messages as msg
from bots.slack.config import ChannelPolicy, mention
from bots.slack.question import Question
from oncall.core.errors import OncallError

if TYPE_CHECKING:
    from bots.slack.bot import SlackBot

log = logging.getLogger(__name__)


def on_click(bot: SlackBot, body: dict[str, Any]) -> None:
    """A button click (block_actions payload), from the bolt listener after ack(): queued
    on the bot's worker pool, so the listener returns at once."""
    action = body["actions"][0]
    bot.submit(handle_action, bot, action["action_id"], action.get("value", ""), body)
    bot.count(action["action_id"])
    bot.count("received")


def handle_action(bot: SlackBot, action_id: str, ref: str, body: dict[str, Any]) -> None:
    """Dispatch one click; the person clicking is told privately what happened."""
    user = body["user"]["id"]
    channel = (body.get("channel") or {}).get("id") or body["container"]["channel_id"]
    data = bot.store.ref(ref)
    if data is None:
        _tell(bot, channel, user, "This button has expired; ask the question again.")
        return
    handlers = {
        msg.HELPFUL: lambda: _feedback(bot, ref, data, user, helpful=True),
        msg.UNHELPFUL: lambda: _feedback(bot, ref, data, user, helpful=False),
        msg.DEEPER: lambda: _think_harder(bot, ref, data, user),
        msg.ESCALATE: lambda: _escalate(bot, ref, data, user),
        msg.SHOW_CODE: lambda: _show_code(bot, ref, data, user),
        msg.APPROVE: lambda: _decide(bot, data, user, body, approved=True),
        msg.REJECT: lambda: _decide(bot, data, user, body, approved=False),
    }
    handler = handlers.get(action_id)
    if handler is None:
        log.warning("unknown Slack action %r", action_id)
        return
    handler()


def _feedback(bot: SlackBot, ref: str, data: dict[str, Any], user: str, helpful: bool) -> None:
    """Store 'helpful' on the recorded turn (the eval/fine-tuning export reads it)."""
    _record(bot, ref, data, helpful=helpful)
    thanks = "Thanks, noted." if helpful else "Thanks, noted. Escalate if you still need help."
    _tell(bot, data["channel"], user, thanks, data["thread_ts"])


def _record(bot: SlackBot, ref: str, data: dict[str, Any], **changes: Any) -> None:
    data = bot.store.ref(ref) or data  # fresh: another click may have recorded since
    feedback = {"helpful": None, "edited_answer": None, "escalated": False, "comment": "",
                **data.get("feedback", {}), **changes}  # fmt: skip
    if feedback["helpful"] is None and feedback["escalated"]:
        feedback["helpful"] = False  # asking for a human: the answer did not do it
    bot.store.update_ref(ref, feedback=feedback)
    recorder = bot.agent.recorder
    if data.get("turn_id") and recorder is not None:
        recorder.set_feedback(data["turn_id"], feedback)


def _think_harder(bot: SlackBot, ref: str, data: dict[str, Any], user: str) -> None:
    """Ask the same question again in the thread, forced DEEP (tool loop, thinking on);
    once per answer, so a double click does not run it twice."""
    if not data.get("question") or not bot.store.claim(f"deeper:{ref}"):  # atomic: once
        _tell(bot, data["channel"], user, "Already thinking harder on this.", data["thread_ts"])
        return
    thread_ts = data["thread_ts"]
    bot.answer(Question(data["channel"], user, data["question"], thread_ts, thread_ts), "deep")


def _show_code(bot: SlackBot, ref: str, data: dict[str, Any], user: str) -> None:
    """Post the program behind a computed answer and its output in the thread, once (the
    whole thread sees it; a second click is told where it is)."""
    computation = data.get("computation")
    if not computation:
        _tell(bot, data["channel"], user, "This answer ran no program.", data["thread_ts"])
        return
    if not bot.store.claim(f"code:{ref}"):  # atomic: two quick clicks post once
        _tell(bot, data["channel"], user, "The code is already in this thread.", data["thread_ts"])
        return
    bot.post(data["channel"], data["thread_ts"], msg.code_message(computation, user))


def _escalate(bot: SlackBot, ref: str, data: dict[str, Any], user: str) -> None:
    """Mention the channel's on-call contact in the thread with the hand-over summary."""
    if not bot.store.claim(f"escalate:{ref}"):  # atomic: two quick clicks page once
        _tell(bot, data["channel"], user, "Already escalated in this thread.", data["thread_ts"])
        return
    policy = bot.channels.policy(data["channel"])
    contact = mention(bot.contact(policy))
    bot.post(
        data["channel"], data["thread_ts"], msg.handover_message(data["handover"], contact, user)
    )
    if data.get("kind") == "answer":
        _record(bot, ref, data, escalated=True)
    bot.count("escalations")


def _decide(
    bot: SlackBot, data: dict[str, Any], user: str, body: dict[str, Any], approved: bool
) -> None:
    """Approve or reject the pending write this button was posted for, if the clicker may
    (agent/approvals.py: the asker, or the named approvers), then post how the turn ended."""
    channel, thread_ts = data["channel"], data["thread_ts"]
    if not data.get("action_id"):  # posted before buttons named their action
        _tell(bot, channel, user, "This button has expired; ask the question again.", thread_ts)
        return
    policy = bot.channels.policy(channel)
    agent = bot.agent_for(policy)
    decider = bot.directory.principal(user)  # all the clicker's groups, not the channel's
    approvers = [f"slack:{u}" for u in policy.approvers or ()]
    question = Question(channel, data["asker"], "", thread_ts, thread_ts)
    with bot.thread_lock(question.thread_id):
        try:
            pending = agent.check_decision(
                data["thread_id"], approved, decider, data["action_id"], approvers
            )
        except ValueError:  # nothing waits any more
            _tell(bot, channel, user, "This action was already decided.", thread_ts)
            return
        except OncallError as exc:
            _tell(bot, channel, user, _refusal(exc, data, policy), thread_ts)
            return
        asker = bot.directory.principal(data["asker"], policy)
        message_ts = body["container"].get("message_ts") or body["message"]["ts"]
        bot.call("chat_update", channel=channel, ts=message_ts,
                  **msg.decided_message(pending, approved, user))  # fmt: skip
        from bots.slack.progress import StatusMessage

        status = StatusMessage(bot.status_sender(channel, thread_ts))
        status.show("Approved, continuing…" if approved else "Rejected, wrapping up…", True)
        try:
            answer = agent.resume(
                data["thread_id"], approved, f"slack:{user}", asker,
                action_id=data["action_id"], decider=decider, approver_ids=approvers,
            )  # fmt: skip
            bot.deliver(answer, question, policy, status)
        except Exception as exc:
            bot.apologise(exc, question, policy, status)


def _refusal(exc: OncallError, data: dict[str, Any], policy: ChannelPolicy) -> str:
    if exc.code == "approval_stale":
        return (
            "This approval is no longer current: the request it was posted for was answered "
            "or replaced. Decide on the latest one."
        )
    if policy.approvers is not None:
        return "Only the approvers of this channel can decide this."
    return f"Only <@{data['asker']}>, who asked, or this action's approvers can decide this."


def _tell(bot: SlackBot, channel: str, user: str, text: str, thread_ts: str | None = None) -> None:
    """A message only the clicking user sees."""
    kwargs: dict[str, Any] = {"channel": channel, "user": user, "text": text}
    if thread_ts:
        kwargs["thread_ts"] = thread_ts
    bot.call("chat_postEphemeral", **kwargs)
