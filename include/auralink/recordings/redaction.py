"""PII redaction of transcripts: what may leave for an LLM.

E-mail addresses, phone numbers and payment-card numbers are replaced by typed placeholders
(``[EMAIL]``, ``[PHONE]``, ``[CARD]``). A digit run is a card only if it has 13-19 digits and passes the
Luhn check, so order numbers and timestamps survive; phone numbers need 7-15 digits with the usual
separators. Speech engines write numbers as words too ("four one one one..."), so spoken digit
sequences are normalised first when looking for cards and phones.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?![\w-])")
# A candidate number: digits with spaces, dots, dashes, parentheses, optional leading +.
NUMBER = re.compile(r"(?<![\w])\+?\(?\d[\d\s().-]{5,}\d(?![\w])")
# "at" / "dot" spoken e-mails ("john at example dot com").
SPOKEN_EMAIL = re.compile(r"\b[a-z0-9._-]+\s+at\s+[a-z0-9-]+(?:\s+dot\s+[a-z0-9-]+)+\b", re.IGNORECASE)
_DIGIT_WORDS = {"zero": "0", "oh": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
                "six": "6", "seven": "7", "eight": "8", "nine": "9"}
SPOKEN_DIGITS = re.compile(r"\b(?:(?:" + "|".join(_DIGIT_WORDS) + r")[\s,-]+){6,}(?:" + "|".join(_DIGIT_WORDS) + r")\b",
                           re.IGNORECASE)


@dataclass
class Redacted:
    text: str
    counts: dict[str, int] = field(default_factory=dict)


def luhn_valid(digits: str) -> bool:
    if not digits.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


_DATE = re.compile(r"^(?:\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{2,4})$")


def _classify(candidate: str) -> str | None:
    if _DATE.match(candidate.strip()):
        return None  # 2026-11-20, 20.11.2026: dates, not phone numbers
    digits = re.sub(r"\D", "", candidate)
    if 13 <= len(digits) <= 19 and luhn_valid(digits):
        return "CARD"
    # Plain long digit runs without separators or "+" are ids more often than phones.
    if 7 <= len(digits) <= 15 and (candidate.startswith("+") or re.search(r"[\s().-]", candidate.strip())
                                   or len(digits) in (10, 11)):
        return "PHONE"
    return None


def redact(text: str | None) -> Redacted:
    """The text with PII replaced, and how many of each kind were found."""
    if not text:
        return Redacted(text or "", {})
    counts: Counter[str] = Counter()

    def sub_email(m: re.Match) -> str:
        counts["EMAIL"] += 1
        return "[EMAIL]"

    out = EMAIL.sub(sub_email, text)
    out = SPOKEN_EMAIL.sub(sub_email, out)

    def sub_number(m: re.Match) -> str:
        kind = _classify(m.group(0))
        if kind is None:
            return m.group(0)
        counts[kind] += 1
        return f"[{kind}]"

    out = NUMBER.sub(sub_number, out)

    def sub_spoken(m: re.Match) -> str:
        digits = "".join(_DIGIT_WORDS[w.lower()] for w in re.findall(r"[A-Za-z]+", m.group(0)))
        kind = "CARD" if 13 <= len(digits) <= 19 and luhn_valid(digits) else ("PHONE" if 7 <= len(digits) <= 15 else None)
        if kind is None:
            return m.group(0)
        counts[kind] += 1
        return f"[{kind}]"

    out = SPOKEN_DIGITS.sub(sub_spoken, out)
    return Redacted(out, dict(counts))
