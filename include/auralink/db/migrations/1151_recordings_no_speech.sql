-- A recording with no speech in it (silence, a hum) ends 'no_speech': handled, nothing to transcribe,
-- nothing billed, never claimed again. Before, it ended 'transcribed' with hallucinated or empty text
-- and a bill for every minute of silence.
ALTER TABLE call_recordings DROP CONSTRAINT call_recordings_status_check;
ALTER TABLE call_recordings ADD CONSTRAINT call_recordings_status_check
    CHECK (status IN ('pending', 'processing', 'transcribed', 'no_speech', 'failed', 'deleted'));
