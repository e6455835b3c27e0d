-- The tables bots/slack/store.py created before migrations existed, unchanged, so an
-- existing slack.sqlite is adopted as version 1 with its data.
CREATE TABLE IF NOT EXISTS seen (key TEXT PRIMARY KEY, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS refs (ref TEXT PRIMARY KEY, at REAL NOT NULL, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS threads (thread_id TEXT PRIMARY KEY, at REAL NOT NULL);
