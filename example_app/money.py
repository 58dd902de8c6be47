"""Money and tax in integers: amounts in the currency's smallest unit (cents), tax rates in
basis points (hundredths of a percent), so that no total depends on floating point."""

from __future__ import annotations


def tax_for(amount: int, rate_basis_points: int) -> int:
    """The tax on ``amount``, rounded half up to the smallest unit, line by line as Medusa
    rounds it."""
    return (amount * rate_basis_points + 5000) // 10000


def percentage(rate_basis_points: int) -> int | float:
    """A rate as Medusa gives ``tax_rate``, a percentage: ``2000`` is 20, ``825`` is 8.25."""
    whole, rest = divmod(rate_basis_points, 100)
    return whole if rest == 0 else rate_basis_points / 100
