"""Front ends (Slack bot, web chat, OpenAI-compatible endpoint). They parse input, call
`agent.service.answer_question` and format the result; no agent logic lives here."""
