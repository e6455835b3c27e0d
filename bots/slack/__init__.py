"""Slack front end: `oncall slack` (bolt app in Socket Mode or HTTP mode).

Modules: `app` (bolt App, HTTP server, Socket Mode), `bot` (intake and answering),
`actions` (buttons), `messages` and `formatting` (pure Block Kit / mrkdwn), `progress`
(status message, failure wording), `config` (channels, users -> ACL groups), `store`
(dedup and button state in SQLite), `run` (wiring for the CLI).
"""
