"""A slow, obviously-correct settlement ledger: the oracle for ``run_accounts``.

Written from the docstring of ``sharing.settlement`` with an explicit queue of debts, one pair
at a time, year by year, payment by payment, and no cumulative sums.
"""

from __future__ import annotations


def ledger(dues: list[float], payments: list[list[float]], rate: float) -> list[dict]:
    """One pair. ``dues[t]`` is the net amount owed payer → payee in year t (negative: the
    other way); ``payments[t]`` the payments booked to year t (positive: payer → payee),
    netted within the year as the ledger defines ``p_t``. Returns per year: due, paid,
    arrears_start, interest, arrears_end, credit_end and ``items``: the debts still open at
    year end as (origin year, kind, amount)."""
    queue: list[list] = []  # [origin year, kind, amount] owed by the payer, oldest first
    credit = 0.0
    rows = []

    def debit(amount: float, year: int, kind: str) -> None:
        nonlocal credit
        used = min(credit, amount)
        credit -= used
        amount -= used
        if amount > 0:
            queue.append([year, kind, amount])

    def settle(amount: float) -> None:
        nonlocal credit
        while amount > 0 and queue:
            take = min(queue[0][2], amount)
            queue[0][2] -= take
            amount -= take
            if queue[0][2] <= 0:
                queue.pop(0)
        credit += amount

    for year, (due, paid) in enumerate(zip(dues, payments, strict=True)):
        start = sum(item[2] for item in queue)
        principal = sum(item[2] for item in queue if item[1] != "interest")
        interest = rate * principal
        if interest > 0:
            debit(interest, year, "interest")
        if due > 0:
            debit(due, year, "due")
        elif due < 0:
            settle(-due)
        net = sum(paid)
        if net > 0:
            settle(net)
        elif net < 0:
            debit(-net, year, "repaid")
        rows.append({"due": due, "paid": sum(paid), "arrears_start": start,
                     "interest": interest, "arrears_end": sum(item[2] for item in queue),
                     "credit_end": credit, "items": [tuple(item) for item in queue]})
    return rows
