"""PII redaction: e-mails, phones, Luhn-checked card numbers; what is not PII survives."""

from __future__ import annotations

import pytest
from auralink.recordings.redaction import luhn_valid, redact


@pytest.mark.parametrize("text, expected, counts", [
    ("write to john.doe+sales@example.co.uk today", "write to [EMAIL] today", {"EMAIL": 1}),
    ("it's jane at example dot com", "it's [EMAIL]", {"EMAIL": 1}),
    ("call +1 (415) 555-0123 or 030 1234567", "call [PHONE] or [PHONE]", {"PHONE": 2}),
    ("my cell is 415.555.0123.", "my cell is [PHONE].", {"PHONE": 1}),
    ("card 4111 1111 1111 1111 exp 12/28", "card [CARD] exp 12/28", {"CARD": 1}),
    ("card 4111-1111-1111-1111", "card [CARD]", {"CARD": 1}),
    ("amex 378282246310005", "amex [CARD]", {"CARD": 1}),
    ("my number is four one five five five five zero one two three", "my number is [PHONE]", {"PHONE": 1}),
    ("card four one one one one one one one one one one one one one one one", "card [CARD]", {"CARD": 1}),
])
def test_pii_is_replaced(text, expected, counts):
    result = redact(text)
    assert result.text == expected
    assert result.counts == counts


@pytest.mark.parametrize("text", [
    "order 4111 1111 1111 1112 failed the Luhn check",  # 16 digits, not a card, not a phone
    "the meeting is on 2026-11-20 at 10:30",
    "we grew 15 percent to 1,250,000 users",
    "ticket 123456789012 is open",  # a long id without separators is not a phone
    "the room is 4B and the code is 1234",
    "",
])
def test_non_pii_survives(text):
    assert redact(text).text == text


def test_luhn():
    assert luhn_valid("4111111111111111") and luhn_valid("5555555555554444") and luhn_valid("378282246310005")
    assert not luhn_valid("4111111111111112") and not luhn_valid("abc")


def test_raw_text_is_kept_alongside_redacted(db):
    from tests.recordings.conftest import new_org, new_transcription

    tid = new_transcription(db, new_org(db), "email bob@example.org please")
    assert db.execute("SELECT text, redacted_text FROM transcriptions WHERE id = %s", (tid,)).fetchone() == \
        ("email bob@example.org please", "email [EMAIL] please")
