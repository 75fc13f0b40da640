"""Parse an import manifest (CSV): one row per image with its MOS, source, reference and labels."""
import csv
import io
import math
from dataclasses import dataclass, field

from annotation.models import Authenticity

# Accepted header names for each field (case-insensitive); any other column is kept as an attribute.
COLUMN_ALIASES = {
    "filename": ("filename", "file_name", "file", "image", "name", "path"),
    "mos": ("mos", "score", "dmos_or_mos"),
    "dmos": ("dmos",),  # a difference score: lower is better, flipped on import
    "mos_min": ("mos_min", "scale_min", "min"),
    "mos_max": ("mos_max", "scale_max", "max"),
    "mos_std": ("mos_std", "std", "sd"),
    "source_dataset": ("source_dataset", "source", "dataset"),
    "reference": ("reference", "ref", "reference_image", "ref_image"),
    "authenticity": ("authenticity", "generated", "origin"),
}
AUTHENTICITY_VALUES = {
    "": Authenticity.UNKNOWN,
    "unknown": Authenticity.UNKNOWN,
    "photographic": Authenticity.PHOTOGRAPHIC,
    "photo": Authenticity.PHOTOGRAPHIC,
    "real": Authenticity.PHOTOGRAPHIC,
    "natural": Authenticity.PHOTOGRAPHIC,
    "ai_generated": Authenticity.AI_GENERATED,
    "ai-generated": Authenticity.AI_GENERATED,
    "ai": Authenticity.AI_GENERATED,
    "generated": Authenticity.AI_GENERATED,
    "synthetic": Authenticity.AI_GENERATED,
}
MAX_MANIFEST_BYTES = 50 * 1024 * 1024


def mos_normalise(raw: float, scale_min: float, scale_max: float, *, lower_is_better: bool = False) -> float:
    """A score mapped linearly from its scale onto 0-100, higher is better (VisualCritic normalises its datasets so).

    A DMOS (lower is better) is flipped: its scale minimum maps to 100 and its maximum to 0.
    """
    position = (raw - scale_min) / (scale_max - scale_min)
    return 100.0 * (1.0 - position if lower_is_better else position)


class ManifestError(ValueError):
    """The manifest as a whole cannot be read (not CSV, no file-name column); nothing is imported."""


@dataclass
class ManifestRow:
    line: int  # the CSV line number, for messages
    filename: str
    mos_raw: float | None = None
    mos_scale_min: float | None = None
    mos_scale_max: float | None = None
    mos_std: float | None = None
    mos_lower_is_better: bool = False  # the score is a DMOS
    source_dataset: str = ""
    reference: str = ""
    authenticity: str = ""
    attributes: dict = field(default_factory=dict)
    error: str = ""  # set when the row is invalid; the row is then reported and skipped

    @property
    def mos_normalised(self) -> float | None:
        """The score on 0-100, higher is better (a DMOS flipped)."""
        if self.mos_raw is None:
            return None
        return mos_normalise(self.mos_raw, self.mos_scale_min, self.mos_scale_max, lower_is_better=self.mos_lower_is_better)


def manifest_parse(
    *, text: str | bytes, default_mos_scale: tuple[float, float] | None = None, mos_lower_is_better: bool = False
) -> list[ManifestRow]:
    """Read a manifest; rows with bad values carry `error`, a manifest that is not one raises ManifestError.

    A row's score comes from its `mos` column, or from a `dmos` column (lower is better); with
    `mos_lower_is_better` the `mos` column holds DMOS too.
    """
    if isinstance(text, bytes):
        if len(text) > MAX_MANIFEST_BYTES:
            raise ManifestError("manifest too large")
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ManifestError("manifest is not UTF-8 text") from exc
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text), dialect)
    try:
        header = next(reader)
    except StopIteration:
        raise ManifestError("manifest is empty") from None
    except csv.Error as exc:
        raise ManifestError(f"manifest is not valid CSV: {exc}") from exc
    columns = _map_columns(header)
    if "filename" not in columns.values():
        raise ManifestError(
            "manifest has no file-name column: name one of " + ", ".join(COLUMN_ALIASES["filename"])
        )
    rows = []
    try:
        for cells in reader:
            if not any(c.strip() for c in cells):
                continue
            rows.append(_parse_row(reader.line_num, header, columns, cells, default_mos_scale, mos_lower_is_better))
    except csv.Error as exc:
        raise ManifestError(f"manifest is not valid CSV at line {reader.line_num}: {exc}") from exc
    seen: dict[str, int] = {}
    for row in rows:
        if not row.error and row.filename in seen:
            row.error = f"file '{row.filename}' is already listed on line {seen[row.filename]}"
        seen.setdefault(row.filename, row.line)
    return rows


def _map_columns(header: list[str]) -> dict[int, str]:
    by_alias = {alias: key for key, aliases in COLUMN_ALIASES.items() for alias in aliases}
    columns: dict[int, str] = {}
    for index, name in enumerate(header):
        key = by_alias.get(name.strip().lower())
        if key and key not in columns.values():
            columns[index] = key
    return columns


def _parse_row(line, header, columns, cells, default_mos_scale, mos_lower_is_better) -> ManifestRow:
    values: dict[str, str] = {}
    attributes: dict[str, str] = {}
    for index, cell in enumerate(cells):
        if index >= len(header):
            return ManifestRow(line=line, filename="", error=f"line {line}: more cells than header columns")
        if index in columns:
            values[columns[index]] = cell.strip()
        elif header[index].strip():
            attributes[header[index].strip()] = cell.strip()
    row = ManifestRow(
        line=line,
        filename=values.get("filename", ""),
        source_dataset=values.get("source_dataset", ""),
        reference=values.get("reference", ""),
        attributes=attributes,
    )
    try:
        _fill_values(row, values, default_mos_scale, mos_lower_is_better)
    except ValueError as exc:
        row.error = f"line {line}: {exc}"
    return row


def _fill_values(row: ManifestRow, values: dict[str, str], default_mos_scale, mos_lower_is_better: bool) -> None:
    if not row.filename:
        raise ValueError("the file name is empty")
    authenticity = values.get("authenticity", "").lower()
    if authenticity not in AUTHENTICITY_VALUES:
        raise ValueError(f"authenticity '{values['authenticity']}' is not one of photographic, ai_generated")
    row.authenticity = AUTHENTICITY_VALUES[authenticity]
    row.mos_raw = _number(values, "mos")
    row.mos_lower_is_better = mos_lower_is_better
    dmos = _number(values, "dmos")
    if dmos is not None:
        if row.mos_raw is not None:
            raise ValueError("give a mos or a dmos, not both")
        row.mos_raw, row.mos_lower_is_better = dmos, True
    row.mos_std = _number(values, "mos_std")
    row.mos_scale_min = _number(values, "mos_min")
    row.mos_scale_max = _number(values, "mos_max")
    if row.mos_scale_min is None and row.mos_scale_max is None and default_mos_scale:
        row.mos_scale_min, row.mos_scale_max = default_mos_scale
    if row.mos_std is not None and row.mos_std < 0:
        raise ValueError(f"mos_std {row.mos_std} is negative")
    if row.mos_raw is None:
        row.mos_lower_is_better = False
        if row.mos_std is not None:
            raise ValueError("mos_std is given without a mos")
        return
    if row.mos_scale_min is None or row.mos_scale_max is None:
        raise ValueError("mos is given without its scale (mos_min and mos_max columns, or a batch-wide MOS scale)")
    if row.mos_scale_min >= row.mos_scale_max:
        raise ValueError(f"the MOS scale [{row.mos_scale_min}, {row.mos_scale_max}] is empty: mos_min must be below mos_max")
    if not row.mos_scale_min <= row.mos_raw <= row.mos_scale_max:
        raise ValueError(f"mos {row.mos_raw} is outside its scale [{row.mos_scale_min}, {row.mos_scale_max}]")


def _number(values: dict[str, str], key: str) -> float | None:
    raw = values.get(key, "")
    if raw == "":
        return None
    try:
        number = float(raw)
    except ValueError:
        raise ValueError(f"{key} '{raw}' is not a number") from None
    if not math.isfinite(number):
        raise ValueError(f"{key} '{raw}' is not a finite number")
    return number
