"""General-purpose data uploaded in the browser (paper 001's D3): a zip holding a LLaVA-style JSON and its images.

The whole zip is checked before anything is written: its size (compressed and unpacked), every entry's name
(no absolute paths, no "..", no backslashes, no links: zip-slip), exactly one JSON file, every other file an
image that PIL opens, and every record of the JSON in LLaVA's conversation schema, each problem named with
its line and record. Only then are the JSON and the images it names written to a fresh folder under
MEDIA_ROOT (never `extractall`) and the row created; a failure on the way removes the folder again.
"""
from __future__ import annotations

import io
import json
import shutil
import stat
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from django.conf import settings
from django.db import transaction
from PIL import Image as PILImage

from annotation.models import Project
from modeling import conversation_kinds as kinds
from modeling.critic.models import CriticVersion, GeneralDataUpload

#: Entries that archivers add and that are not data: skipped, never stored.
IGNORED_PARTS = ("__MACOSX",)
IGNORED_NAMES = (".DS_Store", "Thumbs.db")
MAX_ENTRIES = 20000
#: At most this many problems are listed (a broken file usually breaks every record the same way).
MAX_PROBLEMS = 30
UPLOAD_FOLDER = "general_data"


class GeneralUploadInvalid(ValueError):
    """The zip cannot be used; `problems` lists why (sentences for people), nothing was stored."""

    def __init__(self, problems: list[str]):
        self.problems = problems[:MAX_PROBLEMS] + ([f"… and {len(problems) - MAX_PROBLEMS} more"] if len(problems) > MAX_PROBLEMS else [])
        super().__init__("; ".join(self.problems))


def max_bytes() -> int:
    return int(settings.LOUPE_GENERAL_UPLOAD_MAX_MB) * 1024 * 1024


def _entry_path(info: zipfile.ZipInfo) -> PurePosixPath | str:
    """The entry's safe relative path, or a sentence saying why it is not safe."""
    if stat.S_ISLNK(info.external_attr >> 16):
        return f"{info.filename!r}: a link, not a file"
    return _safe_path(info.filename)


def _safe_path(name: str) -> PurePosixPath | str:
    """`name` as a relative path that stays inside its folder, or a sentence saying why it is not one."""
    if not name or "\\" in name or "\x00" in name:
        return f"{name!r}: backslashes and NUL bytes are not allowed in names"
    path = PurePosixPath(name)
    if path.is_absolute() or (path.parts and path.parts[0].endswith(":")):
        return f"{name!r}: an absolute path"
    if ".." in path.parts:
        return f"{name!r}: '..' leaves the folder"
    return path


def _records_with_lines(text: str) -> list[tuple[int, object]]:
    """The top-level list's records with the line each starts on. Raises json.JSONDecodeError or ValueError."""
    decoder = json.JSONDecoder()

    def skip(i: int) -> int:
        while i < len(text) and text[i] in " \t\r\n":
            i += 1
        return i

    i = skip(0)
    if text[i:i + 1] != "[":
        raise ValueError("must be a JSON list of records ([{...}, ...])")
    i = skip(i + 1)
    out: list[tuple[int, object]] = []
    if text[i:i + 1] == "]":
        return out
    line, counted = 1, 0  # line breaks are counted once, from where the last count stopped
    while True:
        record, end = decoder.raw_decode(text, i)
        line, counted = line + text.count("\n", counted, i), i
        out.append((line, record))
        i = skip(end)
        if text[i:i + 1] == ",":
            i = skip(i + 1)
        elif text[i:i + 1] == "]":
            if skip(i + 1) != len(text):
                raise json.JSONDecodeError("extra data after the list", text, skip(i + 1))
            return out
        else:
            raise json.JSONDecodeError("expected ',' or ']'", text, i)


@dataclass(frozen=True)
class CheckedZip:
    json_path: PurePosixPath
    json_bytes: bytes
    archive: zipfile.ZipFile  # open on the upload: the images are copied from it one at a time, never all held
    images: dict[PurePosixPath, zipfile.ZipInfo]  # the images the records name (path in the zip -> entry)
    n_records: int


def check_zip(upload) -> CheckedZip:
    """Everything that would go wrong with this zip, before anything is stored. Raises GeneralUploadInvalid."""
    limit = max_bytes()
    if upload.size > limit:
        raise GeneralUploadInvalid([f"The zip is {upload.size / 2**20:.1f} MiB; at most {settings.LOUPE_GENERAL_UPLOAD_MAX_MB} MiB are accepted."])
    try:
        archive = zipfile.ZipFile(upload)
        infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError) as error:
        raise GeneralUploadInvalid([f"Not a readable zip file ({error})."]) from error
    if len(infos) > MAX_ENTRIES:
        raise GeneralUploadInvalid([f"The zip holds {len(infos)} entries; at most {MAX_ENTRIES} are accepted."])
    if sum(info.file_size for info in infos) > 2 * limit:
        raise GeneralUploadInvalid([f"The zip unpacks to more than {2 * settings.LOUPE_GENERAL_UPLOAD_MAX_MB} MiB."])
    problems: list[str] = []
    files: dict[PurePosixPath, zipfile.ZipInfo] = {}
    for info in infos:
        path = _entry_path(info)
        if isinstance(path, str):
            problems.append(f"Unsafe entry {path}.")
            continue
        if info.is_dir() or any(part in IGNORED_PARTS for part in path.parts) or path.name in IGNORED_NAMES:
            continue
        files[path] = info
    if problems:
        raise GeneralUploadInvalid(problems)  # nothing more is read from a zip that tries to leave its folder
    json_files = [path for path in files if path.suffix.lower() == ".json"]
    if len(json_files) != 1:
        found = ", ".join(str(p) for p in sorted(json_files)) or "none"
        raise GeneralUploadInvalid([f"The zip must hold exactly one .json file (LLaVA-style records); found {found}."])
    json_path = json_files[0]

    def read(path: PurePosixPath) -> bytes:
        try:
            return archive.read(files[path])
        except (zipfile.BadZipFile, OSError, NotImplementedError, RuntimeError) as error:  # CRC, encryption, method
            raise GeneralUploadInvalid([f"{path}: cannot be read from the zip ({error})."]) from error

    json_bytes = read(json_path)
    try:
        records = _records_with_lines(json_bytes.decode("utf-8-sig"))
    except UnicodeDecodeError as error:
        raise GeneralUploadInvalid([f"{json_path}: not UTF-8 text ({error.reason} at byte {error.start})."]) from error
    except json.JSONDecodeError as error:
        raise GeneralUploadInvalid([f"{json_path}, line {error.lineno} column {error.colno}: not valid JSON ({error.msg})."]) from error
    except ValueError as error:
        raise GeneralUploadInvalid([f"{json_path}: {error}."]) from error
    if not records:
        raise GeneralUploadInvalid([f"{json_path}: the list of records is empty."])

    folder = json_path.parent
    wanted: dict[PurePosixPath, str] = {}  # image path in the zip -> the record's own spelling

    def image_key(relative: str) -> str:
        path = _safe_path(relative)
        if isinstance(path, str):
            raise kinds.GeneralDataError(f"image {relative!r} is not a path inside the zip")
        path = folder / path
        if path not in files:
            raise kinds.GeneralDataError(f"image {relative!r} is not in the zip (looked for {path})")
        wanted[path] = relative
        return str(path)

    for number, (line, record) in enumerate(records, start=1):
        try:
            kinds.general_conversations([record], image_key=image_key)
        except kinds.GeneralDataError as error:
            problems.append(f"{json_path}, line {line} (record {number}){str(error).removeprefix('record 1')}")
    images: dict[PurePosixPath, zipfile.ZipInfo] = {}
    for path, info in sorted(files.items()):
        if path == json_path:
            continue
        try:
            with PILImage.open(io.BytesIO(read(path))) as image:
                image.verify()
        except GeneralUploadInvalid as error:
            problems.extend(error.problems)
            continue
        except Exception as error:  # noqa: BLE001 -- PIL raises many kinds for a file that is no image
            problems.append(f"{path}: not an image PIL can open ({type(error).__name__}).")
            continue
        if path in wanted:
            images[path] = info
    if problems:
        raise GeneralUploadInvalid(problems)
    return CheckedZip(json_path, json_bytes, archive, images, len(records))


def general_upload_store(*, project: Project, upload, user=None) -> GeneralDataUpload:
    """Check the zip (check_zip) and store its JSON and the images it names under MEDIA_ROOT. Raises GeneralUploadInvalid."""
    checked = check_zip(upload)
    relative = Path(UPLOAD_FOLDER) / str(project.pk) / uuid.uuid4().hex
    root = Path(settings.MEDIA_ROOT) / relative
    try:
        for path in [checked.json_path, *checked.images]:
            target = root.joinpath(*path.parts)
            if not target.resolve().is_relative_to(root.resolve()):  # check_zip refused such names already
                raise GeneralUploadInvalid([f"Unsafe entry {path}."])
            target.parent.mkdir(parents=True, exist_ok=True)
            if path == checked.json_path:
                target.write_bytes(checked.json_bytes)
                continue
            with checked.archive.open(checked.images[path]) as source, target.open("wb") as sink:
                shutil.copyfileobj(source, sink, 1024 * 1024)
        with transaction.atomic():
            return GeneralDataUpload.objects.create(
                project=project, name=Path(getattr(upload, "name", "") or "upload.zip").name[:200], folder=str(relative),
                json_name=str(checked.json_path), n_records=checked.n_records, n_images=len(checked.images),
                size_bytes=upload.size, uploaded_by=user if user is not None and user.is_authenticated else None,
            )
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise


def general_upload_in_use(upload: GeneralDataUpload) -> CriticVersion | None:
    """A version that is queued or training with this upload (removing it would fail that run)."""
    busy = (CriticVersion.Status.QUEUED, CriticVersion.Status.TRAINING)
    return CriticVersion.objects.filter(
        project=upload.project, status__in=busy, training_settings__data__general_data=upload.option,
    ).order_by("number").first()


def general_upload_delete(upload: GeneralDataUpload) -> None:
    """Remove the row and its folder. Raises GeneralUploadInvalid while a queued or training version uses it."""
    with transaction.atomic():  # under the project's lock, which a retrain request takes too: no run starts in between
        Project.objects.select_for_update().filter(pk=upload.project_id).first()
        version = general_upload_in_use(upload)
        if version is not None:
            raise GeneralUploadInvalid([f"Critic v{version.number} is {version.get_status_display().lower()} with {upload.name}; "
                                        "cancel it or wait before removing the data."])
        folder = Path(settings.MEDIA_ROOT) / upload.folder
        upload.delete()
    shutil.rmtree(folder, ignore_errors=True)
