"""Post-discount amounts: line discounts plus a proportional share of invoice-level discounts.

Shares are split by the largest-remainder method so they add up to the exact cent.
"""

from __future__ import annotations

from collections.abc import Sequence

from saasync.models import Invoice


def allocate(total: int, weights: Sequence[int]) -> list[int]:
    """Split ``total`` minor units in proportion to ``weights``; the parts add up to ``total``.

    Negative weights (credit lines) take no share. When every weight is zero the total
    is spread evenly. Ties in the remainders go to the earlier line, so the split is
    deterministic.
    """
    if total == 0 or not weights:
        return [0] * len(weights)
    positive = [max(w, 0) for w in weights]
    basis = sum(positive)
    if basis == 0:
        positive = [1] * len(weights)
        basis = len(weights)
    sign = 1 if total > 0 else -1
    magnitude = abs(total)
    shares = [magnitude * w // basis for w in positive]
    remainders = [magnitude * w % basis for w in positive]
    left = magnitude - sum(shares)
    order = sorted(range(len(weights)), key=lambda i: (-remainders[i], i))
    for i in order[:left]:
        shares[i] += 1
    return [sign * s for s in shares]


def invoice_discount_shares(invoice: Invoice) -> list[int]:
    """Each line's share of the invoice-level discount, in line order."""
    return allocate(invoice.discount_amount, [line.amount for line in invoice.lines])


def post_discount_amounts(invoice: Invoice) -> list[int]:
    """Each line's amount after every discount: line amount minus its invoice-discount share.

    The line's own discount is already off ``line.amount`` (normalized-record contract).
    An invoice-level discount larger than the lines leaves a line at zero, never negative.
    """
    shares = invoice_discount_shares(invoice)
    return [
        line.amount - share if line.amount <= 0 else max(line.amount - share, 0)
        for line, share in zip(invoice.lines, shares, strict=True)
    ]
