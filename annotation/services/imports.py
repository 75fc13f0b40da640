"""Import images into a project: from browser uploads, the API, or a server-side folder; zips and manifests.

Every file is validated before anything is written; each image (file, thumbnail, row) is stored in one
step that either completes or leaves nothing behind; a bad file is reported and the others go on.
"""
import io
import json
import logging
import shutil
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from celery import current_app
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.utils import timezone

from annotation.models import Image, ImportBatch, Project
from annotation.services.manifest import ManifestError, ManifestRow, manifest_parse, mos_normalise
from annotation.services.validation import FileRejected, ValidatedImage, check_size, safe_name, validate_image
from annotation.services.work import work_items_sync
from config.runs import run_claim, run_keepalive

logger = logging.getLogger(__name__)

IMPORT_TASK = "annotation.import_batch_process"  # annotation/tasks.py
IMPORTED, DUPLICATE, ERROR = "imported", "duplicate", "error"
PROGRESS_SAVE_INTERVAL_S = 1.0
# Entries a zip carries that are not content (macOS resource forks, folder entries, thumbnails caches).
_IGNORED_PARTS = {"__MACOSX", ".DS_Store", "Thumbs.db"}


class ImportRequestError(ValueError):
    """A request that cannot start an import at all (no files, bad options); nothing was stored."""


@dataclass
class ImageMetadata:
    source_dataset: str = ""
    mos_raw: float | None = None
    mos_scale_min: float | None = None
    mos_scale_max: float | None = None
    mos_std: float | None = None
    mos_lower_is_better: bool = False
    reference: Image | None = None
    authenticity: str = ""
    attributes: dict = field(default_factory=dict)
    hidden_ground_truth: dict = field(default_factory=dict)

    @property
    def mos_normalised(self) -> float | None:
        if self.mos_raw is None:
            return None
        return mos_normalise(self.mos_raw, self.mos_scale_min, self.mos_scale_max, lower_is_better=self.mos_lower_is_better)


@dataclass
class ImportResult:
    name: str
    status: str  # imported | duplicate | error
    message: str
    image: Image | None = None

    def as_report_entry(self) -> dict:
        return {"name": self.name, "status": self.status, "message": self.message, "image_id": self.image.pk if self.image else None}


@dataclass
class ImportItem:
    """One file to import, readable on demand (from disk or from inside a zip)."""

    name: str
    size: int
    read: Callable[[], bytes]


# ---------------------------------------------------------------------------------------------- one image


def image_import(
    *, project: Project, name: str, data: bytes, batch: ImportBatch | None = None, metadata: ImageMetadata | None = None
) -> ImportResult:
    """Validate one file and store it as an image of the project, or report why not.

    A file whose content is already in the project is a duplicate: it is reported with the existing image
    and not stored again.
    """
    metadata = metadata or ImageMetadata()
    try:
        name = safe_name(name)
        checked = validate_image(data)
    except FileRejected as exc:
        return ImportResult(name=name, status=ERROR, message=str(exc))
    existing = Image.objects.filter(project=project, content_hash=checked.content_hash).first()
    if existing:
        return _duplicate_result(name, existing, batch)
    try:
        image = _image_store(project=project, name=name, data=data, checked=checked, batch=batch, metadata=metadata)
    except IntegrityError:
        # Another import stored the same content between our check and our insert.
        existing = Image.objects.get(project=project, content_hash=checked.content_hash)
        return _duplicate_result(name, existing, batch)
    return ImportResult(name=name, status=IMPORTED, message=f"{checked.format} {checked.width}×{checked.height}", image=image)


def _duplicate_result(name: str, existing: Image, batch: ImportBatch | None) -> ImportResult:
    if (
        batch is not None
        and existing.import_batch_id == batch.pk
        and not any(entry["image_id"] == existing.pk for entry in batch.report)
    ):
        # A re-run of this same batch (its worker died mid-way) meets an image its first run stored.
        return ImportResult(name=name, status=IMPORTED, message="imported (before a restart)", image=existing)
    return ImportResult(name=name, status=DUPLICATE, message=f"same content as image #{existing.pk} ({existing.original_name})", image=existing)


def _image_store(*, project, name, data, checked: ValidatedImage, batch, metadata: ImageMetadata) -> Image:
    """Write file, thumbnail and row together; on any failure remove the files again."""
    # Content-addressed paths: the stored name never comes from the user, and a re-run after a crash
    # finds (and replaces) its own orphaned file instead of piling up copies.
    stem = f"{project.pk}/{checked.content_hash[:2]}/{checked.content_hash}"
    file_path = f"images/{stem}.{checked.extension}"
    thumb_path = f"thumbnails/{stem}.jpg"
    thumbnail = checked.thumbnail_jpeg
    written: list[str] = []
    try:
        with transaction.atomic():
            for path, content in ((file_path, data), (thumb_path, thumbnail)):
                if default_storage.exists(path):
                    default_storage.delete(path)
                written.append(default_storage.save(path, ContentFile(content)))
            return Image.objects.create(
                project=project,
                file=written[0],
                thumbnail=written[1],
                content_hash=checked.content_hash,
                original_name=name[:255],
                format=checked.format,
                width=checked.width,
                height=checked.height,
                file_size=checked.file_size,
                source_dataset=metadata.source_dataset,
                reference=metadata.reference,
                mos_raw=metadata.mos_raw,
                mos_scale_min=metadata.mos_scale_min if metadata.mos_raw is not None else None,
                mos_scale_max=metadata.mos_scale_max if metadata.mos_raw is not None else None,
                mos_std=metadata.mos_std,
                mos_normalised=metadata.mos_normalised,
                mos_lower_is_better=metadata.mos_lower_is_better and metadata.mos_raw is not None,
                authenticity=metadata.authenticity,
                attributes=metadata.attributes,
                hidden_ground_truth=metadata.hidden_ground_truth,
                import_batch=batch,
            )
    except BaseException:
        for path in written:
            default_storage.delete(path)
        raise


# ---------------------------------------------------------------------------------------------- items


def items_from_folder(folder: Path) -> list[ImportItem]:
    """Every file under `folder` (recursively), named by its path relative to it."""
    items = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = path.relative_to(folder).as_posix()
        items.append(ImportItem(name=relative, size=path.stat().st_size, read=path.read_bytes))
    return items


def _expand(items: list[ImportItem]) -> Iterator[ImportItem | ImportResult]:
    """Yield plain items, the members of zip archives as items, and results for what cannot be read."""
    for item in items:
        if item.name.lower().endswith(".zip"):
            yield from _zip_members(item)
        else:
            yield item


def _zip_members(item: ImportItem) -> Iterator[ImportItem | ImportResult]:
    if item.size > settings.LOUPE_MAX_ZIP_BYTES:
        yield ImportResult(item.name, ERROR, f"zip too large: the limit is {settings.LOUPE_MAX_ZIP_BYTES // 2**20} MB")
        return
    try:
        archive = zipfile.ZipFile(io.BytesIO(item.read()))
        members = archive.infolist()
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        yield ImportResult(item.name, ERROR, f"not a readable zip archive: {exc}")
        return
    for info in members:
        name = f"{item.name}/{info.filename}"
        parts = info.filename.replace("\\", "/").split("/")
        if info.is_dir() or any(part in _IGNORED_PARTS or part.startswith("._") for part in parts):
            continue
        if info.filename.lower().endswith(".zip"):
            yield ImportResult(name, ERROR, "zip inside a zip: unpack it first")
            continue
        yield ImportItem(name=info.filename, size=info.file_size, read=_zip_reader(archive, info, name))


def _zip_reader(archive: zipfile.ZipFile, info: zipfile.ZipInfo, shown_name: str) -> Callable[[], bytes]:
    def read() -> bytes:
        # Read at most one byte over the limit: a member may lie about its size in the header.
        limit = settings.LOUPE_MAX_IMAGE_BYTES
        try:
            with archive.open(info) as member:
                data = member.read(limit + 1)
        except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError) as exc:
            raise FileRejected(f"cannot be read from the zip: {exc}") from exc
        check_size(len(data))
        return data

    return read


# ---------------------------------------------------------------------------------------------- batches


def import_batch_run(*, batch: ImportBatch, items: list[ImportItem], manifest: bytes | None = None) -> ImportBatch:
    """Import every item into the batch's project, applying the manifest if there is one; fill the report.

    Without a manifest every item is imported. With one, its rows say which files to import and with what
    labels; a row's reference image is imported first (it may be a row too, a file beside the others, or
    an image the project already has).
    """
    batch.report, batch.imported_count, batch.duplicate_count, batch.error_count = [], 0, 0, 0
    options = batch.options or {}
    default_scale = tuple(options["mos_scale"]) if options.get("mos_scale") else None
    try:
        rows = (
            manifest_parse(text=manifest, default_mos_scale=default_scale, mos_lower_is_better=bool(options.get("mos_lower_is_better")))
            if manifest is not None else None
        )
    except ManifestError as exc:
        return _batch_finish(batch, failed=f"The manifest cannot be read: {exc}. Nothing was imported.")

    expanded = list(_expand(items))
    by_name: dict[str, ImportItem] = {}
    for entry in expanded:
        if isinstance(entry, ImportResult):
            _record(batch, entry)
        else:
            by_name.setdefault(entry.name, entry)
            by_name.setdefault(entry.name.rsplit("/", 1)[-1], entry)

    source_dataset = options.get("source_dataset", "")
    if rows is None:
        for entry in expanded:
            if isinstance(entry, ImportItem):
                _record(batch, _import_item(batch, entry, ImageMetadata(source_dataset=source_dataset)))
    else:
        _import_rows(batch, rows, by_name, source_dataset)
    return _batch_finish(batch)


def _import_rows(batch: ImportBatch, rows: list[ManifestRow], by_name: dict[str, ImportItem], source_dataset: str) -> None:
    rows_by_name = {row.filename: row for row in rows if not row.error}
    imported: dict[str, Image] = {}

    def reference_for(row: ManifestRow, chain: tuple[str, ...]) -> Image | None:
        """The row's reference image, imported first if needed; raises FileRejected if there is none."""
        if not row.reference:
            return None
        if row.reference in chain:
            raise FileRejected(f"reference '{row.reference}' refers back to itself")
        if row.reference not in imported:
            if row.reference in rows_by_name:
                import_row(rows_by_name[row.reference], chain + (row.reference,))
            elif row.reference in by_name:
                result = _import_item(batch, by_name[row.reference], ImageMetadata(source_dataset=source_dataset))
                _record(batch, result)
                if result.image:
                    imported[row.reference] = result.image
            else:
                existing = Image.objects.filter(project=batch.project, original_name=row.reference).order_by("-id").first()
                if existing:
                    imported[row.reference] = existing
        if row.reference not in imported:
            if row.reference in rows_by_name or row.reference in by_name:
                raise FileRejected(f"reference '{row.reference}' could not be imported (see its own entry)")
            raise FileRejected(f"reference '{row.reference}' is not among the files nor in the project")
        return imported[row.reference]

    def import_row(row: ManifestRow, chain: tuple[str, ...] = ()) -> None:
        if row.filename in imported or row.filename in done:
            return
        done.add(row.filename)
        item = by_name.get(row.filename)
        if item is None:
            _record(batch, ImportResult(row.filename, ERROR, f"line {row.line}: file '{row.filename}' is not among the files"))
            return
        try:
            reference = reference_for(row, chain + (row.filename,))
        except FileRejected as exc:
            _record(batch, ImportResult(row.filename, ERROR, f"line {row.line}: {exc}"))
            return
        metadata = ImageMetadata(
            source_dataset=row.source_dataset or source_dataset,
            mos_raw=row.mos_raw,
            mos_scale_min=row.mos_scale_min,
            mos_scale_max=row.mos_scale_max,
            mos_std=row.mos_std,
            mos_lower_is_better=row.mos_lower_is_better,
            reference=reference,
            authenticity=row.authenticity,
            attributes=row.attributes,
        )
        result = _import_item(batch, item, metadata)
        _record(batch, result)
        if result.image:
            imported[row.filename] = result.image

    done: set[str] = set()
    for row in rows:
        if row.error:
            _record(batch, ImportResult(row.filename or f"line {row.line}", ERROR, row.error))
        else:
            import_row(row)


def _import_item(batch: ImportBatch, item: ImportItem, metadata: ImageMetadata) -> ImportResult:
    try:
        name = safe_name(item.name)
        check_size(item.size)
        data = item.read()
    except FileRejected as exc:
        return ImportResult(item.name, ERROR, str(exc))
    except OSError as exc:
        return ImportResult(item.name, ERROR, f"cannot be read: {exc}")
    return image_import(project=batch.project, name=name, data=data, batch=batch, metadata=metadata)


def _record(batch: ImportBatch, result: ImportResult) -> None:
    """Add one entry to the report; save the progress now and then, so the report page can show it."""
    batch.report.append(result.as_report_entry())
    counter = {IMPORTED: "imported_count", DUPLICATE: "duplicate_count", ERROR: "error_count"}.get(result.status)
    if counter:
        setattr(batch, counter, getattr(batch, counter) + 1)
    # Rewriting the whole report after every file would be quadratic in a large import; once a
    # second (and at the end, in _batch_finish) keeps the page live at a linear cost.
    now = time.monotonic()
    if now - getattr(batch, "_progress_saved_at", 0.0) >= PROGRESS_SAVE_INTERVAL_S:
        batch.save(update_fields=["report", "imported_count", "duplicate_count", "error_count"])
        batch._progress_saved_at = now


def _batch_finish(batch: ImportBatch, failed: str = "") -> ImportBatch:
    batch.status = ImportBatch.Status.FAILED if failed else ImportBatch.Status.DONE
    batch.error = failed
    batch.finished_at = batch.heartbeat_at = timezone.now()
    batch.save(update_fields=[
        "status", "error", "finished_at", "heartbeat_at", "report", "imported_count", "duplicate_count", "error_count",
    ])
    work_items_sync(batch.project)  # new images get their work items for the project's enabled kinds
    return batch


# ---------------------------------------------------------------------------------------------- entry points


def import_options_clean(*, mos_min=None, mos_max=None, source_dataset: str = "", mos_lower_is_better: bool = False) -> dict:
    """Batch-wide options from a form or API call; raises ImportRequestError when they make no sense."""
    options: dict = {}
    if (mos_min is None) != (mos_max is None):
        raise ImportRequestError("Give both ends of the MOS scale (minimum and maximum), or neither.")
    if mos_min is not None:
        if float(mos_min) >= float(mos_max):
            raise ImportRequestError("The MOS scale minimum must be below its maximum.")
        options["mos_scale"] = [float(mos_min), float(mos_max)]
    if source_dataset:
        options["source_dataset"] = source_dataset.strip()[:200]
    if mos_lower_is_better:
        options["mos_lower_is_better"] = True
    return options


def import_batch_create(
    *, project: Project, user, source: str, files: list, manifest=None, options: dict | None = None
) -> ImportBatch:
    """Stage uploaded files on disk and queue their import; the worker fills the report.

    The files are copied under the media root (names replaced by numbers; the original names are kept in
    an index), so the request returns at once and a worker that dies can start over from the same copy.
    """
    if not files:
        raise ImportRequestError("Choose at least one image or zip file to import.")
    with transaction.atomic():
        batch = ImportBatch.objects.create(project=project, created_by=user, source=source, options=options or {})
        staging = Path(settings.MEDIA_ROOT) / "imports" / str(batch.pk)
        try:
            staging.mkdir(parents=True, exist_ok=True)
            index = []
            for number, upload in enumerate(files):
                stored = f"{number:05d}.upload"
                with open(staging / stored, "wb") as out:
                    for chunk in upload.chunks():
                        out.write(chunk)
                index.append({"name": upload.name, "stored": stored, "size": upload.size})
            if manifest is not None:
                with open(staging / "manifest.csv", "wb") as out:
                    for chunk in manifest.chunks():
                        out.write(chunk)
            (staging / "index.json").write_text(json.dumps(index))
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        batch.staging_dir = str(staging)
        batch.save(update_fields=["staging_dir"])
        # By name (routed to the default queue by config.tasks.task_route): annotation.tasks imports this module.
        transaction.on_commit(lambda: current_app.send_task(IMPORT_TASK, args=(batch.pk,)))
    return batch


def import_batch_process_staged(*, batch_id: int) -> None:
    """Run a staged batch (the Celery task's body). Safe to run twice: the batch is claimed (config/runs.py), so a
    finished one is left alone, a duplicate delivery is dropped and one whose worker died is taken over."""
    batch = run_claim(ImportBatch, batch_id, queryset=ImportBatch.objects.select_related("project"))
    if batch is None:
        return
    keepalive = run_keepalive(ImportBatch, batch.pk)
    try:
        staging = Path(batch.staging_dir)
        try:
            index = json.loads((staging / "index.json").read_text())
        except (OSError, ValueError) as exc:
            _batch_finish(batch, failed=f"The uploaded files are gone from the staging area ({exc}); upload them again.")
            return
        items = [ImportItem(name=e["name"], size=e["size"], read=(staging / e["stored"]).read_bytes) for e in index]
        manifest_path = staging / "manifest.csv"
        manifest = manifest_path.read_bytes() if manifest_path.exists() else None
        import_batch_run(batch=batch, items=items, manifest=manifest)
    finally:
        keepalive.stop()
    _staging_remove(batch)


def _staging_remove(batch: ImportBatch) -> None:
    shutil.rmtree(batch.staging_dir, ignore_errors=True)
    ImportBatch.objects.filter(pk=batch.pk).update(staging_dir="")


def import_stagings_prune() -> int:
    """Delete the staging folders of batches that ended without their worker (failed by the sweep); returns how many.

    The worker removes its own staging folder when a batch ends; a batch failed for a worker that died leaves
    its folder behind, and no message will come back to use it.
    """
    ended = ImportBatch.objects.filter(status__in=(ImportBatch.Status.DONE, ImportBatch.Status.FAILED)).exclude(staging_dir="")
    pruned = 0
    for batch in ended.only("pk", "staging_dir"):
        _staging_remove(batch)
        pruned += 1
    return pruned


def import_folder(*, project: Project, user, folder: Path, manifest: Path | None = None, options: dict | None = None) -> ImportBatch:
    """Import a server-side folder (and its zips) in this process, as the management command does."""
    if not folder.is_dir():
        raise ImportRequestError(f"{folder} is not a folder")
    manifest_bytes = None
    if manifest is not None:
        if not manifest.is_file():
            raise ImportRequestError(f"manifest {manifest} is not a file")
        manifest_bytes = manifest.read_bytes()
    items = [item for item in items_from_folder(folder) if manifest is None or Path(folder, item.name) != manifest]
    batch = ImportBatch.objects.create(project=project, created_by=user, source=ImportBatch.Source.FOLDER, options=options or {})
    batch = run_claim(ImportBatch, batch.pk, queryset=ImportBatch.objects.select_related("project"))
    keepalive = run_keepalive(ImportBatch, batch.pk)
    try:
        return import_batch_run(batch=batch, items=items, manifest=manifest_bytes)
    finally:
        keepalive.stop()
