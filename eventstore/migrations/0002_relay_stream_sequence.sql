-- The stream sequence the relay's last checkpointed event got, so a restarted relay can
-- match the stream's later messages against the store instead of trusting the last one.
ALTER TABLE relay_checkpoints ADD COLUMN stream_sequence bigint NOT NULL DEFAULT 0;
