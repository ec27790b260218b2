from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from statushooks import exceptions, sms
from statushooks.messages import Channel

GSM = "a"
EXTENSION = "€"
EMOJI = "😜"

# --- segments -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", 1),
        (GSM * 160, 1),
        (GSM * 161, 2),
        (GSM * 306, 2),
        (GSM * 307, 3),
        (EXTENSION * 80, 1),
        (EXTENSION * 81, 2),
        (EMOJI + "1" * 68, 1),
        (EMOJI + "1" * 69, 2),
        (EMOJI * 35, 1),
        (EMOJI * 36, 2),
        ("é" * 70, 1),  # é is in the GSM-7 basic table
        ("ą" * 70, 1),
        ("ą" * 71, 2),
        ("ą" * 134, 2),
        ("ą" * 135, 3),
    ],
)
def test_count_segments_vectors(text: str, expected: int) -> None:
    """Known texts split into the number of parts 3GPP TS 23.038 gives."""
    assert sms.count_segments(text) == expected


def test_escape_pair_is_not_split_across_parts() -> None:
    """152 septets then a two-septet escape pair start a new part instead of splitting it."""
    text = GSM * 152 + EXTENSION + GSM * 152
    # 152 + 2 + 152 = 306 septets would fit two parts of 153, but the € cannot straddle them.
    assert sms.count_segments(text) == 3


def test_surrogate_pair_is_not_split_across_parts() -> None:
    """66 code units then an emoji start a new part instead of splitting the surrogate pair."""
    text = "ą" * 66 + EMOJI + "ą" * 66
    # 66 + 2 + 66 = 134 code units would fit two parts of 67, but the emoji cannot straddle.
    assert sms.count_segments(text) == 3


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "GSM-7"),
        ("Hello @ £5 {ok} [x] ~|^\\ €\f", "GSM-7"),
        ("ΔΦΓΛΩΠΨΣΘΞ", "GSM-7"),
        ("Zürich ça", "UCS-2"),
        ("hi " + EMOJI, "UCS-2"),
        ("Ω is fine, but ω is not", "UCS-2"),
    ],
)
def test_encoding(text: str, expected: str) -> None:
    """A text is GSM-7 only if every character is in the basic or extension table."""
    assert sms.encoding(text) == expected


ALPHABET = st.sampled_from(["a", " ", "€", "{", "\f", "ą", "é", "😜", "中", "\n"])


@given(st.text(alphabet=ALPHABET, max_size=400), ALPHABET)
def test_appending_never_decreases_segments(text: str, char: str) -> None:
    """Appending one character never lowers the segment count."""
    assert sms.count_segments(text + char) >= sms.count_segments(text)


@given(st.text(max_size=300), st.characters())
def test_appending_any_character_never_decreases_segments(text: str, char: str) -> None:
    """The property holds for arbitrary Unicode text too."""
    assert sms.count_segments(text + char) >= sms.count_segments(text)


# --- region -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        ("+447901614024", "GB"),
        ("+447810000001", "GB"),
        ("+14155552671", "US"),
        ("+8613800138000", "CN"),
    ],
)
def test_region_code(number: str, expected: str) -> None:
    """A valid E.164 number maps to its ISO 3166 alpha-2 region."""
    assert sms.region_code(number) == expected


@pytest.mark.parametrize(
    "number",
    [
        "",
        "447901614024",
        "+44 7901 614024",
        "+4478",
        "+0447901614024",
        "+1234567890123456",
        "+80012345678",
        "not a number",
    ],
)
def test_region_code_refuses(number: str) -> None:
    """Unparseable, invalid, non-E.164 and regionless numbers raise InvalidPhoneNumberError."""
    with pytest.raises(exceptions.InvalidPhoneNumberError) as info:
        sms.region_code(number)
    assert info.value.errors[0]["field"] == "to"
    assert info.value.errors[0]["message"]


def test_region_code_names_the_field() -> None:
    """The error names the field the caller says the number came from."""
    with pytest.raises(exceptions.InvalidPhoneNumberError) as info:
        sms.region_code("+4478", field="phone_number")
    assert info.value.errors == (
        {"field": "phone_number", "message": info.value.errors[0]["message"]},
    )
    assert "phone_number" in info.value.message


# --- pricing ------------------------------------------------------------------------------------


@pytest.fixture
def table() -> sms.PricingTable:
    """The packaged pricing table."""
    return sms.PricingTable.load()


@pytest.mark.parametrize(
    ("channel", "region", "segments", "expected"),
    [
        (Channel.SMS, "GB", 1, Decimal("0.0085")),
        (Channel.SMS, "GB", 3, Decimal("0.0255")),
        (Channel.SMS, "gb", 1, Decimal("0.0085")),
        (Channel.SMS, "ZZ", 2, Decimal("0.10")),
        (Channel.SMS, None, 1, Decimal("0.05")),
        (Channel.VOICE, "GB", 1, Decimal("0.03")),
        (Channel.VOICE, "GB", 4, Decimal("0.03")),
        (Channel.EMAIL, None, 1, Decimal("0.001")),
        (Channel.EMAIL, "GB", 5, Decimal("0.001")),
    ],
)
def test_packaged_prices(
    table: sms.PricingTable, channel: Channel, region: str | None, segments: int, expected: Decimal
) -> None:
    """SMS costs per segment, voice per call, email per message; unknown regions use default."""
    assert table.price(channel, region, segments) == sms.Price(amount=expected, currency="USD")


def test_price_refuses_zero_segments(table: sms.PricingTable) -> None:
    """A message has at least one segment."""
    with pytest.raises(ValueError, match="segments"):
        table.price(Channel.SMS, "GB", 0)


def write(tmp_path: Path, content: object) -> Path:
    """Write a pricing file and return its path."""
    path = tmp_path / "pricing.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


VALID = {
    "currency": "EUR",
    "rates": {
        "sms": {"default": "0.07", "DE": 0.05},
        "voice": {"default": 1},
        "email": {"default": "0.0005"},
    },
}


def test_load_from_path(tmp_path: Path) -> None:
    """A pricing file passed by path replaces the packaged one; decimal strings are exact."""
    table = sms.PricingTable.load(write(tmp_path, VALID))
    assert table.price(Channel.SMS, "DE", 2) == sms.Price(Decimal("0.10"), "EUR")
    assert table.price(Channel.EMAIL, None, 1) == sms.Price(Decimal("0.0005"), "EUR")
    assert table.price(Channel.VOICE, "FR", 1) == sms.Price(Decimal(1), "EUR")


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{not json", "not valid JSON"),
        ([], "top level"),
        ({**VALID, "currency": "dollars"}, "currency"),
        ({"currency": "USD"}, "rates"),
        ({**VALID, "rates": {**VALID["rates"], "fax": {"default": 1}}}, "unknown channels"),
        ({**VALID, "rates": {"sms": VALID["rates"]["sms"]}}, "missing"),
        ({**VALID, "rates": {**VALID["rates"], "email": {"GB": 1}}}, '"default"'),
        ({**VALID, "rates": {**VALID["rates"], "email": [1]}}, "rates.email"),
        ({**VALID, "rates": {**VALID["rates"], "email": {"default": -1}}}, "non-negative"),
        ({**VALID, "rates": {**VALID["rates"], "email": {"default": "cheap"}}}, "number"),
        ({**VALID, "rates": {**VALID["rates"], "email": {"default": True}}}, "number"),
        ({**VALID, "rates": {**VALID["rates"], "email": {"default": "NaN"}}}, "non-negative"),
        ({**VALID, "rates": {**VALID["rates"], "sms": {"default": 1, "GBR": 1}}}, "region"),
    ],
)
def test_load_refuses_malformed(tmp_path: Path, content: object, problem: str) -> None:
    """A malformed pricing file is a ConfigurationError naming the file and the problem."""
    path = write(tmp_path, content)
    with pytest.raises(exceptions.ConfigurationError, match=problem) as info:
        sms.PricingTable.load(path)
    assert str(path) in info.value.message


def test_load_refuses_missing_file(tmp_path: Path) -> None:
    """A pricing file that does not exist is a ConfigurationError, not an OSError."""
    with pytest.raises(exceptions.ConfigurationError, match="cannot read"):
        sms.PricingTable.load(tmp_path / "absent.json")
