"""Money as exact decimals: how an amount is validated, stored, summed and rounded.

* An amount is a ``Decimal`` of at most ``PLACES`` (4) decimal places and
  ``MAX_DIGITS`` digits (pydantic refuses anything else: no float rounding ever
  decides a value). Four places hold every ISO 4217 currency's minor unit (at most
  3) and the fractions of a cent that discounts make (an order line at 15% off).
* Money fields are a deal's ``amount`` and a touchpoint's ``value`` (e.g. a
  purchase's revenue). Neo4j has no decimal type, so each is stored twice:
  ``amountE4`` / ``valueE4``, the amount times 10^4 as an integer (the exact value,
  summed exactly by Cypher's ``sum``), and ``amount`` / ``value``, the same as a
  float for readers that want a number (older queries, charts; never summed by
  orggraph where exactness matters).
* Money leaves as the GraphQL ``Decimal`` scalar (a string), rounded only where a
  payment needs whole minor units (``to_minor_units``: half-even, at the
  currency's own minor unit).
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from typing import Annotated

from pydantic import Field

PLACES = 4
SCALE = 10**PLACES
# 14 integer digits: amountE4 stays within Neo4j's 64-bit integers; so does a sum (WON_REVENUE,
# 10^4 times the total) while the total stays below 9.2 x 10^14: nine of the largest amounts.
MAX_DIGITS = 14 + PLACES

ExactAmount = Annotated[
    Decimal, Field(ge=0, allow_inf_nan=False, decimal_places=PLACES, max_digits=MAX_DIGITS)
]
"""A non-negative amount, exact: at most 4 decimal places and 18 digits."""

# ISO 4217 currencies whose minor unit is not the cent (2 decimals); the rest use 2.
MINOR_UNIT_EXCEPTIONS: dict[str, int] = {
    **dict.fromkeys(
        ("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI")
        + ("VND", "VUV", "XAF", "XOF", "XPF"),
        0,
    ),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
    **dict.fromkeys(("CLF", "UYW"), 4),
}


def minor_unit(currency: str | None) -> int:
    """Decimal places of the currency's minor unit (ISO 4217; 2 when unknown)."""
    return MINOR_UNIT_EXCEPTIONS.get((currency or "").upper(), 2)


def exact_property(name: str) -> str:
    """The property holding a money field's exact integer form (``amount`` -> ``amountE4``)."""
    return name + "E4"


def to_e4(amount: Decimal) -> int:
    """The stored integer form (exact: the amount has at most 4 places)."""
    return int(amount.scaleb(PLACES))


def from_e4(stored: int) -> Decimal:
    """The exact amount of a stored integer, with at least 2 places (``120.50``)."""
    exact = Decimal(stored).scaleb(-PLACES)
    two = exact.quantize(Decimal("0.01"))
    return two if two == exact else exact.normalize()


def stored_amount(props: dict[str, object], name: str = "amount") -> Decimal | None:
    """A stored money field's exact value (a deal's ``amount``, a touchpoint's ``value``):
    its ``...E4`` integer, else (written before migration 6) its float."""
    e4 = props.get(exact_property(name))
    if isinstance(e4, int):
        return from_e4(e4)
    amount = props.get(name)
    if isinstance(amount, int | float):
        return Decimal(str(amount))
    return None


def to_minor_units(amount: Decimal, currency: str | None) -> int:
    """Whole minor units of the currency (cents for EUR, yen for JPY), half-even."""
    places = minor_unit(currency)
    return int(amount.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN).scaleb(places))


def from_minor_units(units: int, currency: str | None) -> Decimal:
    """The amount of whole minor units, with the currency's places (``100.02``, ``1234``,
    ``1.234`` for EUR, JPY, KWD)."""
    return Decimal(units).scaleb(-minor_unit(currency))
