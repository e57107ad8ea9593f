"""Phone numbers as trunks, extensions and Active Directory write them: one comparable key, never an exception."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from directory.numbers import CallerNumber, NumberPolicy, region_of
from tests.support.directory import NATIONAL
from tests.support.paths import ROOT

# The seeded directory's six telephoneNumber formats (tests/support/ad/seed_directory.py), plus what admins type.
SAME_NUMBER = [
    "+1 (555) 123-0009",
    "+1 555-123-0009",
    "(555) 123-0009",
    "+1.555.123.0009",
    "555 123 0009",
    "+15551230009",
    "5551230009",
    "555/123-0009",
    "555.123.0009",
    "1-555-123-0009",
    "+1 555 123 0009 x210",
    "+1 (555) 123-0009 ext. 210",
    "555-123-0009 extension 4",
    "+1 555 123 0009 X12",
]


@pytest.mark.parametrize("written", SAME_NUMBER)
def test_every_way_of_writing_a_number_gives_the_same_key(written: str) -> None:
    assert CallerNumber.parse(written, "US").key == "+15551230009"


@pytest.mark.parametrize("raw", ["95551230009", "915551230009", "9 555 123 0009"])
def test_the_outside_line_prefix_the_pbx_adds_is_dropped_when_configured(raw: str) -> None:
    assert NumberPolicy("US", dialling_prefixes=("9",)).parse(raw).key == "+15551230009"
    assert CallerNumber.parse(raw, "US").key != "+15551230009"  # not configured: not guessed


def test_a_zero_outside_line_prefix_and_a_national_trunk_prefix() -> None:
    de = NumberPolicy("DE", dialling_prefixes=("0",))
    assert de.parse("0301234567").key == "+49301234567"  # the national 0 as written: valid as it is
    assert de.parse("00301234567").key == "+49301234567"  # outside-line 0 in front of it
    assert de.parse("+49 (0)30 1234567").key == "+49301234567"
    assert NumberPolicy("GB").parse("020 7946 0010").key == "+442079460010"


def test_internal_extensions_match_exactly_by_length_or_pattern() -> None:
    assert CallerNumber.parse("4009").key == "ext:4009"
    assert (
        CallerNumber.parse("4009", max_extension_digits=3).key is None
    )  # too long for an extension, too short to dial
    four_thousands = NumberPolicy("US", extension_pattern=r"4[0-9]{3}")
    assert four_thousands.parse("4009").key == "ext:4009"
    assert four_thousands.parse("5009").key is None
    assert four_thousands.parse("5551230009").key == "+15551230009"


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "anonymous",
        "Anonymous",
        "<unknown>",
        "unknown",
        "withheld",
        "restricted",
        "private",
        "unavailable",
        "   ",
        "abc",
        "*()\\",
        "\x00",
        "\x00\x00123",
    ],
)
def test_numbers_that_identify_nobody_never_match(raw: str) -> None:
    number = NumberPolicy("US", dialling_prefixes=("9",)).parse(raw)
    assert number.key is None and not number.identifies_someone


def test_the_api_of_callernumber_is_kept() -> None:
    number = CallerNumber.parse("5551230001", region="US")
    assert (number.raw, number.e164, number.extension, number.key) == (
        "5551230001",
        "+15551230001",
        None,
        "+15551230001",
    )
    assert CallerNumber.parse("101").key == "ext:101"


def test_hostile_input_gives_no_key() -> None:
    for raw in ["1" * 200, "+" + "9" * 199, "555-123-" + "(" * 100, "5551230009\x00", "*" * 64, "\ud800555"]:
        number = CallerNumber.parse(raw)
        assert len(number.raw) <= 64
        assert number.key is None or number.key.startswith("+")


phone_text = st.text(
    alphabet=st.sampled_from(list("0123456789+-()./ xXext#*;,\\\x00") + ["\ud83d", "ф", "٣"]), max_size=80
)


@settings(max_examples=400, deadline=None)
@given(
    raw=st.one_of(st.text(max_size=200), phone_text),
    region=st.sampled_from(["US", "GB", "DE", "RU", "TH"]),
    prefixes=st.lists(st.sampled_from(["9", "0", "00", "81"]), max_size=2),
)
def test_parsing_never_raises_and_keys_are_well_formed(raw: str, region: str, prefixes: list[str]) -> None:
    number = NumberPolicy(region, dialling_prefixes=tuple(prefixes), extension_pattern=r"[1-7][0-9]{2,4}").parse(raw)
    if number.e164 is not None:
        assert number.e164.startswith("+") and number.e164[1:].isdigit() and len(number.e164) <= 16
    if number.extension is not None:
        assert number.extension.isdigit()
    assert not (number.e164 and number.extension)


@settings(max_examples=200, deadline=None)
@given(
    national=st.from_regex(r"\A[2-9][0-9]{2}[2-9][0-9]{6}\Z"),
    style=st.sampled_from(["+1 ({a}) {b}-{c}", "{a}.{b}.{c}", "{a}/{b}-{c}", "1 {a} {b} {c}", "+1{a}{b}{c} x77"]),
)
def test_any_nanp_number_in_any_style_gives_the_same_key(national: str, style: str) -> None:
    a, b, c = national[:3], national[3:6], national[6:]
    assert CallerNumber.parse(style.format(a=a, b=b, c=c), "US").key == f"+1{national}"


def test_the_directory_package_imports_nothing_of_ours() -> None:
    import ast

    ours = {"tickets", "web", "pbx", "notify"}
    for file in (ROOT / "directory").glob("*.py"):
        for node in ast.walk(ast.parse(file.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            assert not {n.split(".")[0] for n in names} & ours, f"{file.name} imports {names}"


@pytest.mark.parametrize("country, written, e164", NATIONAL)
def test_a_number_in_its_owners_national_format_is_read_in_their_country(country: str, written: str, e164: str) -> None:
    site = NumberPolicy("US", dialling_prefixes=("9",))
    assert site.parse(written, country).key == e164
    assert site.parse(written, f" {country.lower()} ").key == e164  # as a directory may write it
    assert NumberPolicy(None).parse(written, country).key == e164  # no default region needed
    assert site.parse(e164, "JP").key == e164  # written with +<country code>: the country changes nothing


@pytest.mark.parametrize("country", [None, "", "XX", "Germany", "D", "DEU", "\u0434\u0435", "*"])
def test_a_missing_or_unknown_country_falls_back_to_the_default_region(country: str | None) -> None:
    assert region_of(country) is None
    assert NumberPolicy("DE").parse("030/1234567", country).key == "+49301234567"
    assert NumberPolicy("US").parse("(555) 123-4567", country).key == "+15551234567"
    assert NumberPolicy(None).parse("030/1234567", country).key is None
