"""Retention (留成): national law, overridden by default, province and jurisdiction, per year."""

from __future__ import annotations

import numpy as np
import pytest

import sharing
from sharing.taxes import TAXES, retention_table

YEARS = np.arange(2014, 2024)


def table(default=None, provinces=None, overrides=None):
    return retention_table([("a", "sichuan"), ("b", "chongqing")], YEARS, default or {},
                           provinces or {}, overrides or {})


def test_national_law():
    t = table()
    vat, eit, pit, deed = (TAXES.index(x) for x in ("vat", "eit", "pit", "deed"))
    # 国发〔2016〕26号: VAT 75:25 before 2016, 50:50 from 2016 (annual approximation).
    assert t[0, vat, YEARS == 2015][0] == 0.25 and t[0, vat, YEARS == 2016][0] == 0.5
    assert np.all(t[:, eit] == 0.4) and np.all(t[:, pit] == 0.4) and np.all(t[:, deed] == 1.0)


def test_most_specific_level_wins():
    t = table(default={"eit": 0.3}, provinces={"sichuan": {"eit": 0.26}},
              overrides={"b": {"eit": 0.2}})
    eit = TAXES.index("eit")
    assert np.all(t[0, eit] == 0.26)       # a: Sichuan's cut replaces the default
    assert np.all(t[1, eit] == 0.2)        # b: its own value replaces Chongqing's default


def test_by_year_values_fall_through_elsewhere():
    # 合川区: 合川级 / 全辖 industrial tax = 94,940/209,570 ≈ 0.453 in 2021 and
    # 83,929/163,595 ≈ 0.513 in 2022 (POLICY.md §4.3); other years keep the level below.
    t = table(default={"vat": 0.45}, overrides={"a": {"vat": {2021: 0.453, 2022: 0.513,
                                                              2030: 0.9}}})
    vat = TAXES.index("vat")
    assert t[0, vat, YEARS == 2021][0] == 0.453
    assert t[0, vat, YEARS == 2022][0] == 0.513
    assert t[0, vat, YEARS == 2023][0] == 0.45          # falls through to the default
    assert np.all(t[1, vat] == 0.45)


def test_by_year_retention_in_a_scenario(tmp_path):
    sc = sharing.parse_scenario({
        "name": "留成", "name_en": "retention", "years": {"start": 2021, "end": 2022},
        "jurisdictions": [{"id": "hechuan", "name": "合川区", "name_en": "Hechuan",
                           "province": "chongqing"}],
        "retention": {"jurisdictions": {"hechuan": {"vat": {2021: 0.453, 2022: 0.513}}}},
        "streams": [{"id": "s", "host": "hechuan", "tax": "vat", "base": 1000}],
    })
    by_year = sharing.simulate(sc).by_year.set_index("year")
    assert by_year.loc[2021, "retained"] == pytest.approx(453.0)
    assert by_year.loc[2022, "retained"] == pytest.approx(513.0)
    # and it survives the workbook round trip
    from sharing import io

    back = io.import_scenario_xlsx(io.export_scenario_xlsx(sc, tmp_path / "b.xlsx"))
    assert sharing.parse_scenario(back) == sc
