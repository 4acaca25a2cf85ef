import pytest

from paygate.domain.errors import InvalidAmount, UnknownCurrency
from paygate.domain.money import Currency, Money


@pytest.mark.parametrize("code,exponent", [("JPY", 0), ("USD", 2), ("EUR", 2), ("KWD", 3), ("BHD", 3), ("CLF", 4)])
def test_currency_exponents_follow_iso_4217(code, exponent):
    assert Currency.parse(code).exponent == exponent


def test_currency_codes_are_case_insensitive_and_answered_upper_case():
    assert Currency.parse("usd").code == "USD"
    assert Currency.parse("Jpy").code == "JPY"


@pytest.mark.parametrize("code", ["XXX1", "ABC", "", "US", "usdd"])
def test_unknown_currencies_are_refused(code):
    with pytest.raises(UnknownCurrency):
        Currency.parse(code)


@pytest.mark.parametrize("amount", [0, -1, 100_000_000])
def test_amounts_outside_the_range_are_refused(amount):
    with pytest.raises(InvalidAmount):
        Money.of(amount, "USD")


@pytest.mark.parametrize("amount", [True, 10.0, "10"])
def test_only_integers_are_amounts(amount):
    with pytest.raises(InvalidAmount):
        Money.of(amount, "USD")  # type: ignore[arg-type]


@pytest.mark.parametrize("amount,code,shown", [(1050, "USD", "10.50 USD"), (500, "JPY", "500 JPY"),
                                                (1234, "KWD", "1.234 KWD"), (5, "EUR", "0.05 EUR")])
def test_display_uses_the_exponent(amount, code, shown):
    assert Money.of(amount, code).display() == shown
