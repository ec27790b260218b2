"""Opt-out and opt-in keywords, and the ids of inbound texts — pure."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from statushooks import exceptions, ids, inbound
from statushooks.inbound import DEFAULT_KEYWORDS, KeywordAction, Keywords

NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("STOP", (KeywordAction.OPT_OUT, "STOP")),
        ("stop", (KeywordAction.OPT_OUT, "STOP")),
        ("  Stop.  ", (KeywordAction.OPT_OUT, "STOP")),
        ("STOPALL", (KeywordAction.OPT_OUT, "STOPALL")),
        ("unsubscribe!", (KeywordAction.OPT_OUT, "UNSUBSCRIBE")),
        ("Cancel", (KeywordAction.OPT_OUT, "CANCEL")),
        ("END", (KeywordAction.OPT_OUT, "END")),
        ("quit", (KeywordAction.OPT_OUT, "QUIT")),
        ("START", (KeywordAction.OPT_IN, "START")),
        ("unstop", (KeywordAction.OPT_IN, "UNSTOP")),
        ("please stop", None),
        ("STOP IT", None),
        ("stopping", None),
        ("", None),
        ("...", None),
        ("Hello", None),
    ],
)
def test_default_keywords_are_the_ctia_set(text, expected):
    """The CTIA keywords opt out, START/UNSTOP opt in: the whole text, any case, punctuation
    around it ignored; a sentence that contains one is a plain message."""
    assert inbound.keyword_action(text, DEFAULT_KEYWORDS) == expected


def test_an_accounts_own_keywords_replace_the_defaults():
    """With its own lists, only the account's words count."""
    keywords = inbound.new_keywords(["arret", "Halt"], ["go"])
    assert keywords == Keywords(opt_out=("ARRET", "HALT"), opt_in=("GO",))
    assert inbound.keyword_action("halt", keywords) == (KeywordAction.OPT_OUT, "HALT")
    assert inbound.keyword_action("go", keywords) == (KeywordAction.OPT_IN, "GO")
    assert inbound.keyword_action("STOP", keywords) is None


@pytest.mark.parametrize(
    ("opt_out", "opt_in", "field"),
    [
        (["STOP", "two words"], [], "opt_out"),
        ([""], [], "opt_out"),
        (["X" * 33], [], "opt_out"),
        (["STOP"], ["stop"], "opt_in"),
        ([f"W{i}" for i in range(51)], [], "opt_out"),
    ],
)
def test_invalid_keywords_are_refused(opt_out, opt_in, field):
    """Keywords are one word of letters and digits, at most 50 a list, never in both lists."""
    with pytest.raises(exceptions.ValidationError) as info:
        inbound.new_keywords(opt_out, opt_in)
    assert info.value.errors[0]["field"] == field


def test_duplicate_keywords_are_kept_once():
    """A word given twice (in any case) is kept once, in its first place."""
    assert inbound.new_keywords(["stop", "END", "Stop"], []).opt_out == ("STOP", "END")


def test_new_inbound_sms_has_fresh_ids():
    """An inbound text gets an ``inb_`` id and an Interact ``cid_`` correlation id."""
    sms = inbound.new_inbound_sms(
        account_id="acc_1", sender="+447838970000", to="+447860000000", text="Hi",
        received_at=NOW, now=NOW,
    )  # fmt: skip
    assert ids.has_prefix(sms.id, "inb")
    assert ids.has_prefix(sms.correlation_id, "cid")


def test_number_id_is_stable_per_account_and_number():
    """``inbound_number_id`` is the same for the same account and number, else different."""
    first = inbound.number_id("acc_1", "+447860000000")
    assert first == inbound.number_id("acc_1", "+447860000000")
    assert first != inbound.number_id("acc_2", "+447860000000")
    assert first != inbound.number_id("acc_1", "+447860000001")
    assert first.startswith("num_") and len(first) == 31 and first[4:].isalnum()
