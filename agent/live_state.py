"""Questions about the platform's live state, which only the internal tools can answer.

The router (agent/router.py) judges how hard a question is from its wording; it cannot know
that "who is on call for payments?" or "is route-optimizer healthy?" needs a tool call and
not a document: such questions read like simple lookups and were routed DIRECT, where no
tool runs (29 of 31 DEEP tool questions in examples/evals/handbook_deep.jsonl). This rule
sends them DEEP, where the seed planner picks the calls, but only when the asker has
internal tools at all (graph.route). Words, English and Chinese, for what the demo
platform's kind of tools report: rotations and pages, health, deploys, incidents, tickets.
"""

from __future__ import annotations

import re

_LIVE = re.compile(
    # who holds a rotation or a page now (not how on-call works: "the on-call handover")
    r"\bwho(?:'s| is| are)?\b[^.?!]{0,40}\b(?:on[- ]?call|primary|secondary)\b"
    r"|\bon[- ]?call\b[^.?!]{0,25}\b(?:now|today|tonight|this week)\b"
    r"|\b(?:current|primary|secondary) (?:\S+ )?on[- ]?call\b|\bwho\b[^.?!]{0,20}\btoday\b"
    r"|\bwho\b[^.?!]{0,20}\b(?:gets?|is being|will be) paged\b"
    # health and the present moment
    r"|\bhealthy\b|\bhealth\b|\bis \S+ (?:up|down|ok|okay)\b"
    r"|\bright now\b|\bcurrently\b|\bat the moment\b"
    # deploys and incidents as events (not how to deploy)
    r"|\b(?:last|latest|recent|most recent)\b[^.?!]{0,40}\b(?:deploys?|release|rollback)\b"
    r"|\b(?:this morning|today|tonight|yesterday)'?s? (?:deploy|release)\b"
    r"|\bincidents?\b[^.?!]{0,20}\b(?:history|before|recent|latest|last|open)\b"
    r"|\b(?:history|had any|had|recent|latest|last|open)\b[^.?!]{0,20}\bincidents?\b"
    r"|\b(?:open|create|file|raise) (?:a|an) (?:\w+ )?ticket\b"
    r"|谁[^。？?]{0,10}值班|值班[^。？?]{0,8}是谁|健康|现在|目前|当前"
    r"|最近(?:一次|的)?(?:部署|发布|上线)|(?:故障|事故)(?:记录|历史)|(?:开|创建|提)(?:一个)?工单",
    re.I,
)


def asks_live_state(question: str) -> bool:
    """True when the question asks about the platform's current state (module docstring)."""
    return bool(_LIVE.search(question))
