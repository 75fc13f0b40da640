"""Write an export to disk: one format as a plain file, or several (and the images) as a zip with a manifest.

Everything streams: writers write rows as they read them, text goes through a hashing wrapper into the file or
the zip member, image files are copied from storage in blocks. The caller writes to a temporary path and renames
it when this returns (exports/services.py), so a reader never sees half a file.
"""
from __future__ import annotations

import hashlib
import io
import json
import shutil
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from annotation.models import Image, Project
from exports.filters import ExportFilters, ExportInputError, judgements_for_export
from exports.formats import FORMATS, ExportContext, formats_bundled

MANIFEST_NAME = "manifest.json"
IMAGES_DIR = "images/"  # storage names already start with it
COPY_BLOCK_BYTES = 1024 * 1024
EXPORT_SCHEMA_VERSION = 1


@dataclass
class ExportResult:
    """What was written: rows per format, the file's checksum and size, and notes for the reader."""

    row_counts: dict[str, int] = field(default_factory=dict)
    sha256: str = ""
    size_bytes: int = 0
    notes: dict = field(default_factory=dict)


class _HashingWriter(io.RawIOBase):
    """A binary sink that passes bytes on and keeps their SHA-256 and count."""

    def __init__(self, sink):
        self.sink = sink
        self.digest = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.sink.write(data)
        self.digest.update(data)
        self.size += len(data)
        return len(data)


def formats_check(formats: Sequence[str]) -> list[str]:
    """The formats as a list without repeats; raises ExportInputError naming any unknown one."""
    if not formats:
        raise ExportInputError(f"Choose at least one format: {', '.join(FORMATS)}.")
    unknown = [name for name in formats if name not in FORMATS]
    if unknown:
        raise ExportInputError(f"Unknown format(s): {', '.join(map(str, unknown))}. Known: {', '.join(FORMATS)}.")
    return list(dict.fromkeys(formats))


def export_context(*, project: Project, filters: ExportFilters, on_progress=None, chunk_size: int | None = None) -> ExportContext:
    extra = {"chunk_size": chunk_size} if chunk_size else {}
    return ExportContext(
        project=project, filters=filters, judgements=judgements_for_export(project=project, filters=filters),
        on_progress=on_progress, **extra,
    )


def rows_expected(*, project: Project, formats: Sequence[str], filters: ExportFilters) -> int:
    """About how many rows the formats will write (to show progress)."""
    ctx = export_context(project=project, filters=filters)
    return sum(FORMATS[name].expected_rows(ctx) for name in formats)


def export_write(
    *, project: Project, formats: Sequence[str], filters: ExportFilters, include_images: bool, path: Path,
    on_progress: Callable[[int], None] | None = None, chunk_size: int | None = None,
) -> ExportResult:
    """Write the export to `path`: a plain file for one format without images or companions, else a zip with `manifest.json`."""
    formats = formats_check(formats)
    ctx = export_context(project=project, filters=filters, on_progress=on_progress, chunk_size=chunk_size)
    result = ExportResult()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not formats_bundled(formats, include_images=include_images):
        with path.open("wb") as raw:
            result.row_counts[formats[0]], result.sha256, result.size_bytes = _write_text(FORMATS[formats[0]], ctx, raw)
    else:
        _write_bundle(ctx, formats, include_images, path, result)
        result.sha256, result.size_bytes = file_sha256(path), path.stat().st_size
    result.notes = dict(ctx.notes or {})
    return result


def _write_text(export_format, ctx: ExportContext, binary) -> tuple[int, str, int]:
    """Run one format's writer into a binary sink as UTF-8; (rows, sha256, bytes)."""
    sink = _HashingWriter(binary)
    text = io.TextIOWrapper(io.BufferedWriter(sink, buffer_size=COPY_BLOCK_BYTES), encoding="utf-8", newline="")
    rows = export_format.write(ctx, text)
    text.flush()
    text.detach().detach()  # leave `binary` open: its owner closes it
    return rows, sink.digest.hexdigest(), sink.size


def _write_bundle(ctx: ExportContext, formats: list[str], include_images: bool, path: Path, result: ExportResult) -> None:
    members: dict[str, dict] = {}
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
        for name in formats:
            export_format = FORMATS[name]
            with archive.open(export_format.file_name, "w", force_zip64=True) as member:
                result.row_counts[name], sha256, size = _write_text(export_format, ctx, member)
            members[export_format.file_name] = {"sha256": sha256, "size": size, "format": name}
            for companion, text in (export_format.companions(ctx) if export_format.companions else {}).items():
                data = text.encode("utf-8")
                archive.writestr(companion, data)
                members[companion] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data), "format": name}
        if include_images:
            for image_id, file_name in Image.objects.filter(project=ctx.project).order_by("id").values_list("id", "file").iterator(chunk_size=ctx.chunk_size):
                info = zipfile.ZipInfo(file_name, date_time=timezone.now().timetuple()[:6])
                info.compress_type = zipfile.ZIP_STORED  # image files are compressed already
                with Image.file.field.storage.open(file_name, "rb") as source, archive.open(info, "w", force_zip64=True) as member:
                    sink = _HashingWriter(member)
                    shutil.copyfileobj(source, sink, COPY_BLOCK_BYTES)
                members[file_name] = {"sha256": sink.digest.hexdigest(), "size": sink.size, "image_id": image_id}
        notes = dict(ctx.notes or {})
        manifest = {
            "project": {"id": ctx.project.pk, "name": ctx.project.name, "slug": ctx.project.slug},
            "formats": [{"name": name, "file": FORMATS[name].file_name, "label": FORMATS[name].label, "rows": result.row_counts[name]} for name in formats],
            "filters": ctx.filters.to_dict(),
            "counts": {"rows": result.row_counts, "images": sum(1 for entry in members.values() if "image_id" in entry)},
            "members": members,
            "notes": notes,
            "loupe_version": getattr(settings, "LOUPE_VERSION", "unreleased"),
            "schema_version": EXPORT_SCHEMA_VERSION,
            "created_at": timezone.now().isoformat(),
        }
        archive.writestr(MANIFEST_NAME, json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(COPY_BLOCK_BYTES), b""):
            digest.update(block)
    return digest.hexdigest()
