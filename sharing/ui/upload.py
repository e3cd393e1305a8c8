"""Uploaded files: a scenario YAML, a scenario workbook (the ``import-xlsx`` format) or a
firms CSV (UTF-8 or GBK). Each is read by the library from a private temporary folder under
its own file name, so every problem names ``file:line`` or ``sheet, row, column`` and never
a path on the server. Limits on size and rows keep one upload from stalling the server.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sharing
from sharing.i18n import Problem, define
from sharing.io import import_scenario_xlsx
from sharing.scenario import Firm, Scenario, ScenarioError, read_firms_csv
from sharing.ui.workspace import Origin

MAX_BYTES = 5 * 2**20
MAX_FIRM_ROWS = 20_000
KINDS = {".yaml": "yaml", ".yml": "yaml", ".xlsx": "xlsx", ".csv": "csv"}

define({
    "ui.upload.too_big": ("{name}：文件 {size:.1f} MB，超过上限 {limit} MB",
                          "{name}: the file is {size:.1f} MB; the limit is {limit} MB"),
    "ui.upload.too_many_rows": ("{name}：{rows} 行，超过上限 {limit} 行",
                                "{name}: {rows} rows; the limit is {limit} rows"),
    "ui.upload.kind": ("{name}：只接受 .yaml/.yml 情景、.xlsx 情景工作簿或 .csv 企业名单",
                       "{name}: upload a .yaml/.yml scenario, an .xlsx scenario workbook or a "
                       ".csv firm list"),
})


@dataclass(frozen=True)
class Upload:
    """What an upload gave: a scenario (with its origin) or firms to add."""

    origin: Origin | None = None
    scenario: Scenario | None = None
    firms: tuple[Firm, ...] = ()


def safe_name(name: str) -> str:
    """The file name without any folder, in characters every file system accepts."""
    base = re.split(r"[\\/]", name)[-1].strip() or "upload"
    return re.sub(r'[\x00-\x1f:*?"<>|]+', "_", base)


def _stripped(err: ScenarioError, folder: str) -> ScenarioError:
    """The same problems with the temporary folder taken out of every file name."""
    def clean(text: Any) -> Any:
        return text.replace(folder + "/", "").replace(folder, "") if isinstance(text, str) \
            else text

    items = []
    for item in err.items:
        if isinstance(item, Problem):
            items.append(dataclasses.replace(
                item, params={k: clean(v) for k, v in item.params.items()},
                where=clean(item.where)))
        else:
            items.append(clean(str(item)))
    return ScenarioError(items)


def read_upload(name: str, data: bytes, jurisdictions: set[str]) -> Upload:
    """Read one uploaded file. ``jurisdictions`` are the current scenario's ids (a firms CSV
    must use them). Raises ScenarioError with problems that name the file, never a server
    path."""
    name = safe_name(name)
    kind = KINDS.get(Path(name).suffix.lower())
    if kind is None:
        raise ScenarioError([Problem("ui.upload.kind", {"name": name})])
    if len(data) > MAX_BYTES:
        raise ScenarioError([Problem("ui.upload.too_big", {
            "name": name, "size": len(data) / 2**20, "limit": MAX_BYTES // 2**20})])
    if kind == "csv" and data.count(b"\n") > MAX_FIRM_ROWS + 1:
        raise ScenarioError([Problem("ui.upload.too_many_rows", {
            "name": name, "rows": data.count(b"\n"), "limit": MAX_FIRM_ROWS})])
    digest = hashlib.sha256(data).hexdigest()[:16]
    with tempfile.TemporaryDirectory(prefix="sharing-upload-") as folder:
        path = Path(folder) / name
        path.write_bytes(data)
        try:
            if kind == "csv":
                return Upload(firms=tuple(read_firms_csv(path, jurisdictions)))
            if kind == "xlsx":
                sc = sharing.parse_scenario(import_scenario_xlsx(path), name)
            else:
                sc = sharing.load_scenario(path)
        except ScenarioError as err:
            raise _stripped(err, folder) from None
    return Upload(Origin(kind, name, digest), sc)
