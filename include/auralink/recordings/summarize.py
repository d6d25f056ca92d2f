"""Call summaries: an OpenAI-compatible chat model when one is configured, else an offline extractive
summary (TF-IDF sentence ranking), so the pipeline is useful with no network.

Configuration (environment; secrets never logged):

- ``AURALINK_SUMMARIZER``: ``auto`` (default: the LLM when an endpoint or key is configured, else
  extractive), ``openai`` or ``extractive``.
- ``AURALINK_OPENAI_BASE_URL`` (or ``OPENAI_BASE_URL``): an OpenAI-compatible endpoint (vLLM, Ollama,
  LiteLLM, Azure proxy...). ``OPENAI_API_KEY``: its key (local servers that ignore keys may omit it).
- ``AURALINK_SUMMARY_MODEL`` (default ``gpt-4o-mini``), ``AURALINK_SUMMARY_PROVIDER`` (price-book
  provider, default ``openai``), ``AURALINK_SUMMARY_TIMEOUT_SECONDS`` (default 60),
  ``AURALINK_SUMMARY_MAX_RETRIES`` (default 2: the client retries 429 and 5xx with backoff and honours
  Retry-After), ``AURALINK_SUMMARY_MAX_CHARS`` (transcript characters sent, default 24000).

Only the PII-redacted transcript is ever sent, and only for a call whose participants' consents allow it
(:mod:`auralink.recordings.consent`: recording, transcription and ai_processing, as they stood at the call):
otherwise the transcript is skipped (``summary_status = 'skipped_no_consent'``) before anything is sent.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from auralink import config
from auralink.recordings import consent
from auralink.recordings.redaction import redact

log = logging.getLogger(__name__)

SENTIMENTS = ("positive", "neutral", "negative", "mixed")
MAX_ATTEMPTS = 3
OFFLINE_PROVIDER, OFFLINE_MODEL = "auralink", "tfidf-extractive"

SYSTEM_PROMPT = (
    "You summarise business phone and video calls from their transcripts. Reply with exactly one JSON object "
    'and nothing else: {"summary": "<2-4 sentences>", "action_items": ["<short imperative item>", ...], '
    '"sentiment": "positive" | "neutral" | "negative" | "mixed"}. Use an empty list when there are no action '
    "items. Personal data in the transcript is replaced by placeholders such as [EMAIL], [PHONE] and [CARD]; "
    "keep them as they are and never guess the original values."
)


class SummaryFailed(RuntimeError):
    """This transcript could not be summarised (the message is the per-item reason); the batch goes on."""


class SummarizerMisconfigured(RuntimeError):
    """Every item would fail the same way (bad key, unknown model): the job fails as a whole."""


class SummarizerUnavailable(SummarizerMisconfigured):
    """The configured endpoint cannot be reached at all (refused, DNS, TLS) after the client's retries.

    Not the transcript's fault, so it must not burn the transcript's attempts: the job fails, the
    transcript is left as it was and the next run (or the task's retry) tries again. A timeout stays a
    per-item failure: one long transcript can time out while the endpoint serves the others.
    """


@dataclass
class Summary:
    summary: str
    action_items: list[str]
    sentiment: str | None
    provider: str
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    metadata: dict[str, Any] = field(default_factory=dict)


# --- validation ----------------------------------------------------------------------------------

_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)


def parse_summary_json(content: str | None) -> tuple[str, list[str], str]:
    """(summary, action_items, sentiment) from the model's reply; raises SummaryFailed if it is not valid."""
    if not content or not content.strip():
        raise SummaryFailed("malformed response: the model returned no content")
    match = _FENCE.match(content)
    body = match.group(1) if match else content
    try:
        data = json.loads(body)
    except ValueError:
        raise SummaryFailed(f"malformed response: not JSON: {content[:120]!r}") from None
    if not isinstance(data, dict):
        raise SummaryFailed("malformed response: expected a JSON object")
    summary = data.get("summary")
    if not isinstance(summary, str) or not summary.strip():
        raise SummaryFailed("malformed response: 'summary' must be a non-empty string")
    items = data.get("action_items", [])
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise SummaryFailed("malformed response: 'action_items' must be a list of strings")
    sentiment = data.get("sentiment")
    sentiment = sentiment.strip().lower() if isinstance(sentiment, str) else sentiment
    if sentiment not in SENTIMENTS:
        raise SummaryFailed(f"malformed response: 'sentiment' must be one of {', '.join(SENTIMENTS)}, got {sentiment!r}")
    return summary.strip(), [i.strip() for i in items if i.strip()][:20], sentiment


# --- the LLM -------------------------------------------------------------------------------------

def llm_configured() -> bool:
    return bool(config.env("AURALINK_OPENAI_BASE_URL") or config.env("OPENAI_BASE_URL") or config.env("OPENAI_API_KEY"))


class LLMSummarizer:
    def __init__(self, *, base_url: str | None = None, api_key: str | None = None, model: str | None = None,
                 provider: str | None = None, timeout: float | None = None, max_retries: int | None = None):
        self.base_url = base_url or config.env("AURALINK_OPENAI_BASE_URL") or config.env("OPENAI_BASE_URL")
        # Local OpenAI-compatible servers often need no key, but the client insists on one.
        self.api_key = api_key or config.env("OPENAI_API_KEY") or ("unused" if self.base_url else None)
        if not self.api_key:
            raise SummarizerMisconfigured("no OPENAI_API_KEY and no AURALINK_OPENAI_BASE_URL: nothing to call")
        self.model: str = model or config.env("AURALINK_SUMMARY_MODEL") or "gpt-4o-mini"
        self.provider: str = provider or config.env("AURALINK_SUMMARY_PROVIDER") or "openai"
        self.timeout = timeout if timeout is not None else float(config.env("AURALINK_SUMMARY_TIMEOUT_SECONDS") or 60)
        self.max_retries = max_retries if max_retries is not None else int(config.env("AURALINK_SUMMARY_MAX_RETRIES") or 2)
        self.max_chars = int(config.env("AURALINK_SUMMARY_MAX_CHARS") or 24000)
        self._client = None

    @property
    def client(self):
        if self._client is None:
            from openai import OpenAI

            self._client = OpenAI(api_key=self.api_key, base_url=self.base_url, timeout=self.timeout,
                                  max_retries=self.max_retries)
        return self._client

    def summarize(self, redacted_text: str) -> Summary:
        import openai

        text = redacted_text[: self.max_chars]
        try:
            response = self.client.chat.completions.create(
                model=self.model, temperature=0,
                messages=[{"role": "system", "content": SYSTEM_PROMPT},
                          {"role": "user", "content": f"Transcript:\n{text}"}],
            )
        except (openai.AuthenticationError, openai.PermissionDeniedError, openai.NotFoundError) as exc:
            raise SummarizerMisconfigured(f"summary endpoint refused the request ({exc.status_code}): check "
                                          f"OPENAI_API_KEY and AURALINK_SUMMARY_MODEL={self.model}") from None
        except openai.RateLimitError:
            raise SummaryFailed(f"rate limited (HTTP 429) after {self.max_retries} retries") from None
        except openai.APITimeoutError:
            raise SummaryFailed(f"timed out after {self.timeout:g} s ({self.max_retries} retries)") from None
        except openai.APIStatusError as exc:
            raise SummaryFailed(f"provider error HTTP {exc.status_code} after {self.max_retries} retries") from None
        except openai.APIConnectionError as exc:   # after APITimeoutError, its subclass
            where = config.redact_url(self.base_url) if self.base_url else "the OpenAI API"
            raise SummarizerUnavailable(f"cannot reach the summary endpoint {where} after {self.max_retries} "
                                        f"retries ({exc.__class__.__name__}); no transcript was charged an "
                                        "attempt") from None
        except ValueError as exc:  # the client raises json.JSONDecodeError on a body that is not JSON
            raise SummaryFailed(f"malformed response body: {exc.__class__.__name__}") from None
        try:
            content = response.choices[0].message.content
        except (AttributeError, IndexError, TypeError):
            raise SummaryFailed("malformed response: no choices in the completion") from None
        summary, items, sentiment = parse_summary_json(content)
        usage = getattr(response, "usage", None)
        return Summary(summary, items, sentiment, self.provider, self.model,
                       prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
                       completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
                       metadata={} if usage else {"usage": "not reported"})


# --- offline extractive --------------------------------------------------------------------------

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_ACTION = re.compile(r"\b(will|i'll|we'll|need to|needs to|should|must|follow up|send|schedule|let's|please|"
                     r"action item|todo|to do|call (?:me|you) back|by (?:monday|tuesday|wednesday|thursday|friday|"
                     r"tomorrow|next week))\b", re.IGNORECASE)
_POSITIVE = {"great", "good", "thanks", "thank", "happy", "excellent", "perfect", "glad", "love", "agree", "resolved",
             "awesome", "pleased", "helpful"}
_NEGATIVE = {"bad", "problem", "issue", "angry", "unhappy", "disappointed", "cancel", "broken", "complaint", "wrong",
             "frustrated", "terrible", "worse", "fail", "failed", "refund"}


def _sentences(text: str) -> list[str]:
    text = " ".join(text.split())
    if not text:
        return []
    parts = [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]
    if len(parts) == 1 and len(parts[0].split()) > 30:
        # Engines without punctuation (pocketsphinx): rank fixed-length word windows instead.
        words = parts[0].split()
        parts = [" ".join(words[i:i + 20]) for i in range(0, len(words), 20)]
    return parts


def _sentiment(text: str) -> str:
    words = re.findall(r"[a-z']+", text.lower())
    pos = sum(w in _POSITIVE for w in words)
    neg = sum(w in _NEGATIVE for w in words)
    if pos and neg and min(pos, neg) * 2 >= max(pos, neg):
        return "mixed"
    if pos > neg:
        return "positive"
    if neg > pos:
        return "negative"
    return "neutral"


class ExtractiveSummarizer:
    """The top-ranked sentences by mean TF-IDF weight, in their original order (scikit-learn, offline)."""

    provider, model = OFFLINE_PROVIDER, OFFLINE_MODEL

    def __init__(self, max_sentences: int = 3):
        self.max_sentences = max_sentences

    def summarize(self, redacted_text: str) -> Summary:
        sentences = _sentences(redacted_text)
        if not sentences:
            return Summary("No speech was recognised in this recording.", [], "neutral", self.provider, self.model)
        chosen = list(range(len(sentences)))
        if len(sentences) > self.max_sentences:
            from sklearn.feature_extraction.text import TfidfVectorizer

            try:
                matrix = TfidfVectorizer(stop_words="english").fit_transform(sentences)
                scores = [row.sum() / max(1, row.nnz) ** 0.5 for row in matrix]
                ranked = sorted(range(len(sentences)), key=lambda i: (-scores[i], i))
                chosen = sorted(ranked[: self.max_sentences])
            except ValueError:  # only stop words: keep the opening
                chosen = list(range(self.max_sentences))
        summary = " ".join(sentences[i] for i in chosen)
        items = [s for s in sentences if _ACTION.search(s)][:10]
        return Summary(summary, items, _sentiment(redacted_text), self.provider, self.model,
                       metadata={"sentences": len(sentences)})


def build_summarizer(kind: str | None = None):
    kind = (kind or config.env("AURALINK_SUMMARIZER") or "auto").lower()
    if kind == "extractive" or (kind == "auto" and not llm_configured()):
        log.info("summarizer: offline extractive (TF-IDF)%s", "" if kind == "extractive" else "; no LLM endpoint configured")
        return ExtractiveSummarizer()
    if kind in ("auto", "openai"):
        s = LLMSummarizer()
        log.info("summarizer: %s model %s at %s", s.provider, s.model, s.base_url or "the OpenAI API")
        return s
    raise ValueError(f"unknown summarizer {kind!r}; choose auto, openai or extractive")


# --- the job -------------------------------------------------------------------------------------

_CANDIDATES = """
    SELECT t.id FROM transcriptions t
    LEFT JOIN call_summaries s ON s.transcription_id = t.id
    WHERE (s.id IS NULL OR s.updated_at < t.updated_at)
      AND t.summary_failures < %(max_attempts)s AND t.summary_status IS NULL
      AND t.id <> ALL(%(exclude)s)
    ORDER BY t.id
    LIMIT %(limit)s
"""

_LOCK_ONE = """
    SELECT t.id, t.call_id, t.organization_id, t.text, t.redacted_text, t.summary_failures FROM transcriptions t
    WHERE t.id = %s AND t.summary_failures < %s AND t.summary_status IS NULL
      AND NOT EXISTS (SELECT 1 FROM call_summaries s WHERE s.transcription_id = t.id AND s.updated_at >= t.updated_at)
    FOR UPDATE OF t SKIP LOCKED
"""

# Re-checked once the lock is held. When the lock is won just after another run committed this transcript's
# summary, FOR UPDATE re-checks only the locked row; the NOT EXISTS above was evaluated on the statement's
# older snapshot and still says "not summarised". A new statement sees that commit.
_ALREADY_SUMMARISED = """
    SELECT 1 FROM call_summaries s JOIN transcriptions t ON t.id = s.transcription_id
    WHERE t.id = %s AND s.updated_at >= t.updated_at
"""


def count_pending(conn: psycopg.Connection) -> int:
    """Transcripts a summarize run would pick up now (for fan-out planning)."""
    row = conn.execute(f"SELECT count(*) FROM ({_CANDIDATES}) AS candidates",
                       {"max_attempts": MAX_ATTEMPTS, "exclude": [], "limit": None}).fetchone()
    return int(row[0]) if row else 0


def _cost(s: Summary) -> tuple[Decimal, dict[str, Any]]:
    from auralink.pricing import UnknownPrice, price_for

    try:
        return price_for("llm", s.provider, s.model).cost(units=1, input_tokens=s.prompt_tokens,
                                                          output_tokens=s.completion_tokens), {}
    except UnknownPrice as exc:
        log.warning("%s; recording the usage at cost 0", exc)
        return Decimal(0), {"price": "unknown"}


def store_summary(conn: psycopg.Connection, transcription_id: int, call_id: Any, org_id: Any, text: str,
                  s: Summary) -> None:
    cost, price_meta = _cost(s)
    digest = hashlib.sha256(f"{s.provider}/{s.model}\n{text}".encode()).hexdigest()[:16]
    conn.execute(
        """
        INSERT INTO call_summaries (transcription_id, call_id, organization_id, summary, action_items, sentiment,
                                    provider, model, prompt_tokens, completion_tokens)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
        ON CONFLICT (transcription_id) DO UPDATE SET
            summary = EXCLUDED.summary, action_items = EXCLUDED.action_items, sentiment = EXCLUDED.sentiment,
            provider = EXCLUDED.provider, model = EXCLUDED.model, prompt_tokens = EXCLUDED.prompt_tokens,
            completion_tokens = EXCLUDED.completion_tokens, updated_at = clock_timestamp()
        """,
        (transcription_id, call_id, org_id, s.summary, Jsonb(s.action_items), s.sentiment, s.provider, s.model,
         s.prompt_tokens, s.completion_tokens),
    )
    conn.execute(
        """
        INSERT INTO ai_usage (organization_id, call_id, user_id, feature, provider, model, unit_type, units,
                              input_tokens, output_tokens, cost_usd, occurred_at, idempotency_key, metadata)
        VALUES (%s, %s, (SELECT initiated_by FROM calls WHERE id = %s), 'llm', %s, %s, 'requests', 1, %s, %s, %s,
                now(), %s, %s)
        ON CONFLICT (idempotency_key) DO UPDATE SET
            input_tokens = EXCLUDED.input_tokens, output_tokens = EXCLUDED.output_tokens,
            cost_usd = EXCLUDED.cost_usd, metadata = EXCLUDED.metadata
        """,
        (org_id, call_id, call_id, s.provider, s.model, s.prompt_tokens, s.completion_tokens, cost,
         f"llm:summary:{transcription_id}:{digest}",
         Jsonb({"purpose": "call_summary", "transcription_id": transcription_id, **s.metadata, **price_meta})),
    )
    conn.execute("UPDATE transcriptions SET summary_failures = 0, summary_error = NULL WHERE id = %s",
                 (transcription_id,))


def summarize_one(conn: psycopg.Connection, summarizer, transcription_id: int) -> tuple[str, str | None]:
    """Lock, summarise and store one transcript: ('succeeded' | 'failed' | 'skipped', reason)."""
    with conn.transaction():
        row = conn.execute(_LOCK_ONE, (transcription_id, MAX_ATTEMPTS)).fetchone()
        if row is None:
            return "skipped", "summarised by another run, or being summarised now"
        tid, call_id, org_id, text, redacted_text, failures = row
        if conn.execute(_ALREADY_SUMMARISED, (tid,)).fetchone():
            return "skipped", "summarised by another run"
        refused = consent.summary_block(conn, call_id)
        if refused is not None:   # checked before the text goes anywhere: nothing sent, nothing billed
            conn.execute("UPDATE transcriptions SET summary_status = 'skipped_no_consent', summary_skip_reason = %s "
                         "WHERE id = %s", (refused[:2000], tid))
            return "skipped", refused
        safe_text = redacted_text if redacted_text is not None else redact(text).text
        try:
            summary = summarizer.summarize(safe_text)
        except SummaryFailed as exc:
            attempts = min(failures + 1, MAX_ATTEMPTS)
            conn.execute("UPDATE transcriptions SET summary_failures = %s, summary_error = %s WHERE id = %s",
                         (attempts, str(exc)[:2000], tid))
            last = "; no more retries" if attempts >= MAX_ATTEMPTS else ""
            return "failed", f"{exc} (attempt {attempts} of {MAX_ATTEMPTS}{last})"
        store_summary(conn, tid, call_id, org_id, safe_text, summary)
    return "succeeded", None


def run(url: str, *, batch_size: int = 50, max_batches: int | None = None, summarizer=None,
        on_item: Callable[[int, str, str | None], None] | None = None) -> dict[str, Any]:
    try:
        return _run(url, batch_size=batch_size, max_batches=max_batches, summarizer=summarizer, on_item=on_item)
    except SummarizerMisconfigured as exc:   # every item would fail alike: the job fails, in one line
        from auralink.jobs import JobFailed

        raise JobFailed(str(exc)) from None


def _run(url: str, *, batch_size: int, max_batches: int | None, summarizer,
         on_item: Callable[[int, str, str | None], None] | None) -> dict[str, Any]:
    from auralink.db.connection import connect

    stats: dict[str, Any] = {"succeeded": 0, "failed": 0, "skipped": 0, "skipped_no_consent": 0, "batches": 0}
    done: list[int] = []  # handled in this run (whatever the outcome): not picked again by this run
    with connect(url, application_name="auralink:summarize") as conn:
        while max_batches is None or stats["batches"] < max_batches:
            ids = [r[0] for r in conn.execute(_CANDIDATES, {"max_attempts": MAX_ATTEMPTS, "exclude": done,
                                                            "limit": batch_size}).fetchall()]
            conn.commit()
            if not ids:
                break
            if summarizer is None:
                summarizer = build_summarizer()
            stats["provider"], stats["model"] = summarizer.provider, summarizer.model
            stats["batches"] += 1
            for tid in ids:
                outcome, reason = summarize_one(conn, summarizer, tid)
                done.append(tid)
                # "skipped" alone counts transcripts another run took; consent skips are counted apart
                no_consent = outcome == "skipped" and reason is not None and reason.startswith(consent.NO_CONSENT)
                stats["skipped_no_consent" if no_consent else outcome] += 1
                if on_item:
                    on_item(tid, outcome, reason)
    return stats
