"""Inbound SMS, opt-out keywords and the suppression list — pure.

A text a phone number sends to one of the account's numbers is an ``InboundSms``. Whatever
brings it in (``POST /v1/inbound-sms`` or a provider connector) parses it into one and hands it
to ``Service.receive_inbound_sms``. Its first word decides what else it does
(``keyword_action``): an opt-out keyword (the CTIA set by default: STOP, STOPALL, UNSUBSCRIBE,
CANCEL, END, QUIT) puts the sender on the account's suppression list, an opt-in keyword
(START, UNSTOP) takes it off. Matching ignores case and surrounding whitespace and punctuation,
and looks at the whole text only when it is that one word ("STOP", "stop.", " Stop "), as
carriers do: "please don't stop" is a plain inbound message.
"""

from __future__ import annotations

import enum
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from statushooks import exceptions, ids
from statushooks.messages import MessageStatus

#: The CTIA opt-out keywords (US short code monitoring handbook).
DEFAULT_OPT_OUT_KEYWORDS: tuple[str, ...] = (
    "STOP",
    "STOPALL",
    "UNSUBSCRIBE",
    "CANCEL",
    "END",
    "QUIT",
)
#: The keywords that take a sender off the suppression list again.
DEFAULT_OPT_IN_KEYWORDS: tuple[str, ...] = ("START", "UNSTOP")
MAX_KEYWORDS = 50  # keywords per list, at most
MAX_KEYWORD_LENGTH = 32  # characters of one keyword, at most
KEYWORD_PATTERN = re.compile(r"^[A-Z0-9]+$")
#: What is stripped around a keyword before matching: whitespace and punctuation.
_AROUND = " \t\r\n.,;:!?'\"()[]-"
#: The error a message to a suppressed number fails with.
OPTED_OUT_CODE = "recipient_opted_out"
OPTED_OUT_MESSAGE = "the recipient opted out of messages from this account (suppression list)"
NUMBER_ID_PREFIX = "num_"


class InboundStatus(enum.StrEnum):
    """The status an inbound or opt-out event reports (never a message's status)."""

    #: A text arrived from a phone number.
    INBOUND = "inbound"
    #: A phone number opted out with a keyword.
    OPT_OUT = "opt_out"


#: What an event reports: a message's status, or what an inbound text was.
EventStatus = MessageStatus | InboundStatus


class KeywordAction(enum.StrEnum):
    """What an inbound text's keyword does to the sender's suppression."""

    #: The sender is put on the suppression list.
    OPT_OUT = "opt_out"
    #: The sender is taken off it.
    OPT_IN = "opt_in"


@dataclass(frozen=True, kw_only=True)
class Keywords:
    """An account's opt-out and opt-in keywords, upper case."""

    opt_out: tuple[str, ...] = DEFAULT_OPT_OUT_KEYWORDS
    opt_in: tuple[str, ...] = DEFAULT_OPT_IN_KEYWORDS


DEFAULT_KEYWORDS = Keywords()


@dataclass(frozen=True, kw_only=True)
class InboundSms:
    """One text received from ``sender`` on the account's number ``to``."""

    #: ``inb_`` + KSUID.
    id: str
    account_id: str
    #: The sender's phone number (E.164).
    sender: str
    #: The account's number (or short code, or sender id) it was sent to.
    to: str
    text: str
    received_at: datetime
    #: ``cid_`` + KSUID: Interact's ``correlation_id`` of the inbound event.
    correlation_id: str


@dataclass(frozen=True, kw_only=True)
class Suppression:
    """A phone number the account must not send SMS to."""

    account_id: str
    phone_number: str
    #: ``keyword`` (an inbound opt-out) or ``api`` (added by hand).
    source: str
    #: The opt-out keyword the sender used (``source`` ``keyword``).
    keyword: str | None = None
    created_at: datetime


def new_inbound_sms(
    *, account_id: str, sender: str, to: str, text: str, received_at: datetime, now: datetime
) -> InboundSms:
    """An inbound text with fresh ids."""
    return InboundSms(
        id=ids.new_id("inb", now.timestamp()),
        account_id=account_id,
        sender=sender,
        to=to,
        text=text,
        received_at=received_at,
        correlation_id=ids.new_id("cid", now.timestamp()),
    )


def keyword_of(text: str) -> str | None:
    """The text as one upper-case word, if it is one (punctuation around it ignored)."""
    word = text.strip(_AROUND).upper()
    return word if word and KEYWORD_PATTERN.match(word) else None


def keyword_action(text: str, keywords: Keywords) -> tuple[KeywordAction, str] | None:
    """What ``text`` asks for, with the keyword it used; None for a plain message."""
    word = keyword_of(text)
    if word is None:
        return None
    if word in keywords.opt_out:
        return KeywordAction.OPT_OUT, word
    if word in keywords.opt_in:
        return KeywordAction.OPT_IN, word
    return None


def check_keywords(field: str, words: Iterable[str]) -> tuple[str, ...]:
    """``words`` upper-cased, in order, without duplicates.

    Raises:
        ValidationError: a word is empty, too long or not letters and digits only; or too many.
    """
    checked: list[str] = []
    for word in words:
        upper = word.strip().upper()
        if not KEYWORD_PATTERN.match(upper) or len(upper) > MAX_KEYWORD_LENGTH:
            raise _invalid(
                field, f"{word!r}: letters and digits only, 1 to {MAX_KEYWORD_LENGTH} of them"
            )
        if upper not in checked:
            checked.append(upper)
    if len(checked) > MAX_KEYWORDS:
        raise _invalid(field, f"at most {MAX_KEYWORDS} keywords")
    return tuple(checked)


def new_keywords(opt_out: Sequence[str], opt_in: Sequence[str]) -> Keywords:
    """An account's keywords, checked; one word cannot both opt out and opt in.

    Raises:
        ValidationError: a list is invalid (``check_keywords``) or the lists share a word.
    """
    keywords = Keywords(
        opt_out=check_keywords("opt_out", opt_out), opt_in=check_keywords("opt_in", opt_in)
    )
    shared = sorted(set(keywords.opt_out) & set(keywords.opt_in))
    if shared:
        raise _invalid("opt_in", f"also opt-out keywords: {', '.join(shared)}")
    return keywords


def number_id(account_id: str, number: str) -> str:
    """A stable id of the account's number ``number`` (Interact's ``inbound_number_id``):
    ``num_`` + 27 base62 characters of a SHA-256 of both."""
    digest = int.from_bytes(hashlib.sha256(f"{account_id}\0{number}".encode()).digest())
    chars = []
    for _ in range(27):
        digest, index = divmod(digest, 62)
        chars.append(ids.BASE62_ALPHABET[index])
    return NUMBER_ID_PREFIX + "".join(chars)


def _invalid(field: str, message: str) -> exceptions.ValidationError:
    return exceptions.ValidationError(
        f"{field}: {message}", errors=[{"field": field, "message": message}]
    )
