"""SMS arithmetic — segment counting, region of a number, and pricing. Pure: no I/O but reading
the pricing file.

Segments (3GPP TS 23.038 / 23.040)
----------------------------------
A text that fits the GSM 7-bit default alphabet is sent as GSM-7: 160 septets in a single
message, 153 per part once it needs a concatenation header. The ten characters of the
extension table (form feed, ``^ { } \\ [ ~ ] |`` and ``€``) are sent as an escape plus the
character, so they cost two septets. Any other character forces UCS-2 for the whole text:
70 UTF-16 code units single, 67 per part (a character outside the BMP, such as an emoji, is a
surrogate pair: two code units). An escape pair or a surrogate pair is never split across two
parts, so parts are filled greedily rather than by dividing the total.

Pricing file
------------
The packaged default is ``statushooks/data/pricing.json``; ``Settings.pricing_file``
(``STATUSHOOKS_PRICING_FILE``) replaces it. The format::

    {
      "currency": "USD",
      "rates": {
        "sms":   {"default": 0.05, "GB": 0.0085, "US": 0.0079},
        "voice": {"default": 0.06, "GB": 0.03},
        "email": {"default": 0.001}
      }
    }

``currency`` is an ISO 4217 code. ``rates`` has one object per channel (``sms``, ``voice``,
``email``), each mapping an ISO 3166 alpha-2 region code, or ``"default"`` for every other
region, to a non-negative rate given as a JSON number or a decimal string. Every channel needs a
``"default"``. An SMS costs its rate per segment, a voice call its rate per call and an email its
rate per message.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import phonenumbers

from statushooks import exceptions
from statushooks.messages import Channel

GSM7_SINGLE = 160  # septets in a one-part message
GSM7_PART = 153  # septets per part of a multipart message
UCS2_SINGLE = 70  # UTF-16 code units in a one-part message
UCS2_PART = 67  # UTF-16 code units per part of a multipart message

#: The GSM 7-bit default alphabet (without the escape code itself).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
#: The extension table: each costs an escape plus itself, two septets.
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

Encoding = Literal["GSM-7", "UCS-2"]

E164_PATTERN = re.compile(r"^\+[1-9][0-9]{1,14}$")
NON_GEOGRAPHIC_REGION = "001"  # phonenumbers' region of +800, +808, … numbers

PRICING_RESOURCE = "data/pricing.json"
DEFAULT_REGION = "default"
CURRENCY_PATTERN = re.compile(r"^[A-Z]{3}$")
REGION_PATTERN = re.compile(r"^[A-Za-z]{2}$")


# --- segments -------------------------------------------------------------------------------


def is_gsm7(char: str) -> bool:
    """Whether one character can be sent in GSM-7 (basic or extension table)."""
    return char in GSM7_BASIC or char in GSM7_EXTENSION


def encoding(text: str) -> Encoding:
    """The encoding ``text`` is sent in: GSM-7 if every character allows it, else UCS-2."""
    return "GSM-7" if all(is_gsm7(char) for char in text) else "UCS-2"


def _gsm7_cost(char: str) -> int:
    return 2 if char in GSM7_EXTENSION else 1


def _ucs2_cost(char: str) -> int:
    return 2 if ord(char) > 0xFFFF else 1


def _fill_parts(costs: list[int], part_size: int) -> int:
    """How many parts of ``part_size`` hold ``costs``, never splitting one character."""
    parts, used = 1, 0
    for cost in costs:
        if used + cost > part_size:
            parts, used = parts + 1, 0
        used += cost
    return parts


def count_segments(text: str) -> int:
    """How many SMS parts ``text`` is sent as (1 for an empty text).

    >>> count_segments("a" * 160), count_segments("a" * 161), count_segments("😜" * 36)
    (1, 2, 2)
    """
    if encoding(text) == "GSM-7":
        costs, single, part = [_gsm7_cost(char) for char in text], GSM7_SINGLE, GSM7_PART
    else:
        costs, single, part = [_ucs2_cost(char) for char in text], UCS2_SINGLE, UCS2_PART
    if sum(costs) <= single:
        return 1
    return _fill_parts(costs, part)


# --- region ---------------------------------------------------------------------------------


def _invalid_number(field: str, reason: str) -> exceptions.InvalidPhoneNumberError:
    return exceptions.InvalidPhoneNumberError(
        f"{field}: {reason}", errors=[{"field": field, "message": reason}]
    )


def region_code(number: str, *, field: str = "to") -> str:
    """The ISO 3166 alpha-2 region of an E.164 number, e.g. ``"+447901614024"`` → ``"GB"``.

    Raises:
        InvalidPhoneNumberError: not E.164, not a valid number, or a number of no region.
    """
    if not E164_PATTERN.match(number):
        raise _invalid_number(field, "must be an E.164 number: + then up to 15 digits")
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException as exc:
        raise _invalid_number(field, "is not a phone number") from exc
    # ``is_valid_number`` finds the region and then checks the number against it: finding the
    # region first and checking against that one does the work once, not twice.
    region = phonenumbers.region_code_for_number(parsed)
    if not region:
        raise _invalid_number(field, "is not a valid phone number")
    if not phonenumbers.is_valid_number_for_region(parsed, region):
        raise _invalid_number(field, "is not a valid phone number")
    if region == NON_GEOGRAPHIC_REGION:
        raise _invalid_number(field, "belongs to no country or region")
    return str(region)


# --- pricing --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Price:
    """An amount of money in one currency."""

    amount: Decimal
    currency: str


def _bad_pricing(source: str, problem: str) -> exceptions.ConfigurationError:
    return exceptions.ConfigurationError(f"invalid pricing file {source}: {problem}")


def _parse_rate(value: object, *, source: str, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
        raise _bad_pricing(source, f"{where} must be a number, got {value!r}")
    try:
        rate = Decimal(value)
    except InvalidOperation:
        raise _bad_pricing(source, f"{where} must be a number, got {value!r}") from None
    if not rate.is_finite() or rate < 0:
        raise _bad_pricing(source, f"{where} must be a non-negative number, got {value!r}")
    return rate


def _parse_channel_rates(value: object, *, source: str, channel: Channel) -> dict[str, Decimal]:
    where = f"rates.{channel.value}"
    if not isinstance(value, dict):
        raise _bad_pricing(source, f"{where} must be an object of region code to rate")
    if DEFAULT_REGION not in value:
        raise _bad_pricing(source, f'{where} needs a "{DEFAULT_REGION}" rate')
    bad = sorted(key for key in value if key != DEFAULT_REGION and not REGION_PATTERN.match(key))
    if bad:
        raise _bad_pricing(source, f"{where} has keys that are not region codes: {', '.join(bad)}")
    return {
        region if region == DEFAULT_REGION else region.upper(): _parse_rate(
            rate, source=source, where=f"{where}.{region}"
        )
        for region, rate in value.items()
    }


def _parse_rates(value: object, *, source: str) -> dict[Channel, dict[str, Decimal]]:
    if not isinstance(value, dict):
        raise _bad_pricing(source, '"rates" must be an object with one entry per channel')
    unknown = sorted(set(value) - {channel.value for channel in Channel})
    if unknown:
        raise _bad_pricing(source, f"unknown channels in rates: {', '.join(unknown)}")
    missing = [channel.value for channel in Channel if channel.value not in value]
    if missing:
        raise _bad_pricing(source, f"rates are missing for: {', '.join(missing)}")
    return {
        channel: _parse_channel_rates(value[channel.value], source=source, channel=channel)
        for channel in Channel
    }


def _parse_table(document: object, *, source: str) -> PricingTable:
    if not isinstance(document, dict):
        raise _bad_pricing(source, "the top level must be a JSON object")
    currency = document.get("currency")
    if not isinstance(currency, str) or not CURRENCY_PATTERN.match(currency):
        raise _bad_pricing(source, '"currency" must be an ISO 4217 code such as "USD"')
    return PricingTable(currency=currency, rates=_parse_rates(document.get("rates"), source=source))


def _read_text(path: Path | None) -> tuple[str, str]:
    """The pricing file's text and a name for it in error messages."""
    if path is None:
        resource = resources.files("statushooks").joinpath(PRICING_RESOURCE)
        return resource.read_text(encoding="utf-8"), f"statushooks/{PRICING_RESOURCE}"
    try:
        return path.read_text(encoding="utf-8"), str(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise _bad_pricing(str(path), f"cannot read it ({exc})") from exc


@dataclass(frozen=True, kw_only=True)
class PricingTable:
    """Rates per channel and region, in one currency (see the module docstring for the file)."""

    currency: str
    #: Channel → region code (or ``"default"``) → rate.
    rates: Mapping[Channel, Mapping[str, Decimal]]

    @classmethod
    def load(cls, path: Path | None = None) -> PricingTable:
        """The table in ``path``, or the packaged default.

        Raises:
            ConfigurationError: the file cannot be read or is not a valid pricing table.
        """
        text, source = _read_text(path)
        try:
            document: Any = json.loads(text, parse_float=Decimal)
        except json.JSONDecodeError as exc:
            raise _bad_pricing(source, f"not valid JSON ({exc})") from exc
        return _parse_table(document, source=source)

    def rate(self, channel: Channel, region_code: str | None) -> Decimal:
        """The rate of one unit (segment, call, email) to ``region_code``."""
        rates = self.rates[channel]
        region = region_code.upper() if region_code else DEFAULT_REGION
        return rates.get(region, rates[DEFAULT_REGION])

    def price(self, channel: Channel, region_code: str | None, segments: int) -> Price:
        """What one message costs: SMS per segment, voice per call, email per message."""
        if segments < 1:
            raise ValueError(f"segments must be at least 1, got {segments}")
        rate = self.rate(channel, region_code)
        amount = rate * segments if channel is Channel.SMS else rate
        return Price(amount=amount, currency=self.currency)
