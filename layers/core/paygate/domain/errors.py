"""Named domain errors. Services map them to HTTP answers; nothing matches on message text."""


class DomainError(Exception):
    """Base of every rule the domain refuses."""


class UnknownCurrency(DomainError):
    def __init__(self, code: str) -> None:
        super().__init__(f"unknown currency {code!r}")
        self.code = code


class InvalidAmount(DomainError):
    pass


class InvalidTransition(DomainError):
    def __init__(self, current: str, target: str) -> None:
        super().__init__(f"a payment in status {current} cannot become {target}")
        self.current = current
        self.target = target


class AmountTooLarge(DomainError):
    """A refund for more than is left to refund (`left`, in minor units)."""

    def __init__(self, requested: int | None, left: int) -> None:
        super().__init__(f"at most {left} can still be refunded" if left else "nothing is left to refund")
        self.requested = requested
        self.left = left
