"""Call recordings: fetch audio, transcribe it (Whisper / faster-whisper / pocketsphinx), redact PII,
summarise transcripts, and analyse call quality. Jobs are in :mod:`auralink.recordings.jobs`.

Heavy libraries (torch, whisper, ctranslate2, pocketsphinx, scikit-learn, openai) are imported inside
functions only: DAG parsing imports this package.
"""
