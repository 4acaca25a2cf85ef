"""Money: integer minor units and ISO 4217 currencies with their exponents."""

from __future__ import annotations

from dataclasses import dataclass

from paygate.domain.errors import InvalidAmount, UnknownCurrency

MIN_AMOUNT = 1
MAX_AMOUNT = 99_999_999

# ISO 4217 active codes and their minor-unit exponents. Codes not listed with 0 or 3 have 2.
_ZERO = {"BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND",
         "VUV", "XAF", "XOF", "XPF"}
_THREE = {"BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"}
_FOUR = {"CLF", "UYW"}
_TWO = {
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT", "BGN",
    "BMD", "BND", "BOB", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD", "CDF", "CHF", "CNY", "COP",
    "CRC", "CUP", "CVE", "CZK", "DKK", "DOP", "DZD", "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP",
    "GEL", "GHS", "GIP", "GMD", "GTQ", "GYD", "HKD", "HNL", "HTG", "HUF", "IDR", "ILS", "INR", "IRR",
    "JMD", "KES", "KGS", "KHR", "KPW", "KYD", "KZT", "LAK", "LBP", "LKR", "LRD", "LSL", "MAD", "MDL",
    "MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR", "MVR", "MWK", "MXN", "MYR", "MZN", "NAD", "NGN",
    "NIO", "NOK", "NPR", "NZD", "PAB", "PEN", "PGK", "PHP", "PKR", "PLN", "QAR", "RON", "RSD", "RUB",
    "SAR", "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLE", "SOS", "SRD", "SSP", "STN", "SVC", "SYP",
    "SZL", "THB", "TJS", "TMT", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH", "USD", "UYU", "UZS", "VES",
    "WST", "XCD", "YER", "ZAR", "ZMW", "ZWG",
}

EXPONENTS: dict[str, int] = {
    **{c: 2 for c in _TWO}, **{c: 0 for c in _ZERO}, **{c: 3 for c in _THREE}, **{c: 4 for c in _FOUR},
}


@dataclass(frozen=True)
class Currency:
    code: str
    exponent: int

    @classmethod
    def parse(cls, code: str) -> "Currency":
        """Case-insensitive; always answered upper-case."""
        upper = code.strip().upper() if isinstance(code, str) else ""
        if upper not in EXPONENTS:
            raise UnknownCurrency(str(code))
        return cls(upper, EXPONENTS[upper])


@dataclass(frozen=True)
class Money:
    amount: int  # minor units
    currency: Currency

    def __post_init__(self) -> None:
        if isinstance(self.amount, bool) or not isinstance(self.amount, int):
            raise InvalidAmount("amount must be an integer number of minor units")

    @classmethod
    def of(cls, amount: int, currency: str) -> "Money":
        money = cls(amount, Currency.parse(currency))
        if not MIN_AMOUNT <= amount <= MAX_AMOUNT:
            raise InvalidAmount(f"amount must be between {MIN_AMOUNT} and {MAX_AMOUNT} minor units")
        return money

    def display(self) -> str:
        """Human form, for logs and notifications: 1050 USD -> '10.50 USD', 500 JPY -> '500 JPY'."""
        exp = self.currency.exponent
        if exp == 0:
            return f"{self.amount} {self.currency.code}"
        sign = "-" if self.amount < 0 else ""
        whole, frac = divmod(abs(self.amount), 10**exp)
        return f"{sign}{whole}.{frac:0{exp}d} {self.currency.code}"
