"""The fuzz harness (``tests/fuzz.py``) in CI: a few hundred seeded mutations of the shipped
scenarios, scenario workbooks and firm CSVs must all end cleanly (exit 0, or 2 with a
bilingual message; no traceback, no warning, no non-finite number, no hang). The full
campaign is ``python tests/fuzz.py --cases 10000``."""

from __future__ import annotations

from fuzz import campaign

CI_CASES = 200


def test_fuzz_campaign():
    ran, bad, _ = campaign(CI_CASES, seed=20261202, report=lambda s: None)
    assert ran == CI_CASES
    assert not bad, "\n".join(f"case {o.case} ({o.kind}, {o.command}): {o.problem}"
                              for o in bad)
