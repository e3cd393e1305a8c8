"""Tax types and retention (留成): the part of a gross tax a jurisdiction's own budget keeps.

China's tax-sharing system (分税制) gives the centre a fixed share of the shared taxes; the
local remainder may be cut again by the province. Agreements between jurisdictions can only
move what a county actually keeps, so the engine turns gross collections into retained revenue
with a per-tax, per-year table that scenarios can override per province and per jurisdiction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np

Tax = Literal[
    "vat", "eit", "pit", "urban_maintenance", "property", "land_use",
    "land_vat", "stamp", "deed", "other",
]
TAXES: tuple[str, ...] = Tax.__args__

TAX_NAMES: dict[str, tuple[str, str]] = {
    "vat": ("增值税", "value-added tax"),
    "eit": ("企业所得税", "enterprise income tax"),
    "pit": ("个人所得税", "individual income tax"),
    "urban_maintenance": ("城市维护建设税", "urban maintenance and construction tax"),
    "property": ("房产税", "property tax"),
    "land_use": ("城镇土地使用税", "urban land use tax"),
    "land_vat": ("土地增值税", "land appreciation tax"),
    "stamp": ("印花税", "stamp duty"),
    "deed": ("契税", "deed tax"),
    "other": ("其他", "other"),
}

# Local share of each gross tax under national law; taxes not listed are wholly local.
# VAT: 国发〔2016〕26号, 50:50 from 2016-05-01 (75:25 before; annual approximation: a year
# counts as 2016-rule when it is >= 2016). EIT and PIT: 60:40 since 2003.
NATIONAL_LOCAL_SHARE: dict[str, float] = {"vat": 0.5, "eit": 0.4, "pit": 0.4}
VAT_LOCAL_SHARE_BEFORE_2016 = 0.25
NATIONAL_REFERENCE = "国发〔2016〕26号 (VAT 50:50); 国发〔2001〕37号 / 2003 rule (EIT, PIT 60:40)"


def national_local_share(tax: str, year: int) -> float:
    """Local share of `tax` in `year` under national law (no provincial cut)."""
    if tax == "vat" and year < 2016:
        return VAT_LOCAL_SHARE_BEFORE_2016
    return NATIONAL_LOCAL_SHARE.get(tax, 1.0)


def retention_table(
    jurisdictions: Sequence[tuple[str, str]],
    years: np.ndarray,
    default: Mapping[str, float],
    provinces: Mapping[str, Mapping[str, float]],
    overrides: Mapping[str, Mapping[str, float]],
) -> np.ndarray:
    """Retention fractions, shape ``(jurisdictions, taxes, years)``.

    Precedence, most specific first: the jurisdiction's override, its province's, the
    scenario default, national law. Each level replaces (does not multiply) the one below.

    Parameters
    ----------
    jurisdictions : (id, province) pairs, in the engine's jurisdiction order.
    years : the simulated years.
    default, provinces, overrides : tax -> fraction tables from the scenario; a fraction is a
        number (every year) or a ``{year: fraction}`` mapping (the years listed).
    """
    national = np.array([[national_local_share(t, int(y)) for y in years] for t in TAXES])
    table = np.broadcast_to(national, (len(jurisdictions), *national.shape)).copy()
    for j, (jid, province) in enumerate(jurisdictions):
        for level in (default, provinces.get(province, {}), overrides.get(jid, {})):
            for tax, value in level.items():
                row = table[j, TAXES.index(tax)]
                if isinstance(value, Mapping):
                    for year, fraction in value.items():
                        row[years == year] = fraction
                else:
                    row[:] = value
    return table
