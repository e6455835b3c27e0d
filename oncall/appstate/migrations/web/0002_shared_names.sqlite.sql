-- The names the Postgres schema uses (one database holds every domain there).
ALTER TABLE threads RENAME TO web_threads;
ALTER TABLE turns RENAME TO web_turns;
ALTER TABLE transcript_keys RENAME TO web_transcripts;
