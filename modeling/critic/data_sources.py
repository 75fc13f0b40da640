"""The critic's training data beyond judgements: reviewed VQA items, a local general-purpose file, numeric scores.

Reads rows and files into the plain dataclasses of :mod:`modeling.conversation_kinds`; training_set_build
(modeling/critic/data.py) calls these. Held-out images never enter, as there.
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path

from django.conf import settings

from annotation.models import Project
from modeling import conversation_kinds as kinds
from modeling.assist.models import VQAItem
from modeling.conversation_prompts import ATTRIBUTES
from modeling.critic.models import GeneralDataUpload

#: A general-purpose file larger than this is refused (it is read whole into memory).
GENERAL_MAX_BYTES = 200 * 1024 * 1024
#: Key prefix of general-data images in a training set (they are files, not project images).
GENERAL_KEY_PREFIX = "general:"
#: How a retrain names a zip uploaded on the Critic page (modeling/critic/general_uploads.py): "upload:<id>".
UPLOAD_PREFIX = "upload:"


class GeneralDataUnusable(ValueError):
    """The general-purpose data named for a retrain cannot be used (the message says why, for people)."""


def perception_examples(*, project: Project, training: set[int], last_judgement_id: int) -> list[kinds.VQAExample]:
    """Accepted (or edited) VQA items of the project whose feedback is about a training image."""
    rows = VQAItem.objects.filter(
        project=project, status__in=(VQAItem.Status.ACCEPTED, VQAItem.Status.EDITED),
        source_judgement_id__lte=last_judgement_id, source_judgement__excluded=False,
    ).order_by("id").values_list("kind", "question", "answer", "options", "conversation", "source_judgement__item__image_id")
    out = []
    for kind, question, answer, options, conversation, image_id in rows:
        if image_id not in training:
            continue
        try:
            if kind == VQAItem.Kind.CONVERSATION:
                turns = tuple((str(t.get("role")), str(t.get("content", ""))) for t in conversation or [] if isinstance(t, dict))
                out.append(kinds.VQAExample(str(image_id), turns=turns))
            else:
                clean = tuple(str(o) for o in options or [] if str(o).strip())
                out.append(kinds.VQAExample(str(image_id), question=question, answer=answer,
                                            options=clean if kind == VQAItem.Kind.MULTIPLE_CHOICE else ()))
        except ValueError:
            continue  # a reviewed item that lost its shape (edited by hand in the admin) trains nothing
    return out


def general_data_root() -> Path | None:
    """The administrator's folder of general-purpose files, or None when the option is off."""
    folder = (settings.LOUPE_GENERAL_DATA_DIR or "").strip()
    return Path(folder).resolve() if folder else None


def _upload_source(name: str, project: Project | None) -> tuple[Path, Path]:
    """(JSON path, its upload's folder) of "upload:<id>", an upload of `project`."""
    number = name.removeprefix(UPLOAD_PREFIX)
    upload = None
    if re.fullmatch(r"[0-9]{1,18}", number) and project is not None:  # not "²" or 5,000 nines
        upload = GeneralDataUpload.objects.filter(pk=int(number), project=project).first()
    if upload is None:
        raise GeneralDataUnusable(f"No uploaded general-purpose data {name!r} in this project (it may have been removed).")
    root = (Path(settings.MEDIA_ROOT) / upload.folder).resolve()
    path = (root / upload.json_name).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise GeneralDataUnusable(f"The files of the upload {upload.name!r} are missing from the media folder.")
    return path, root


def general_data_path(name: str, *, project: Project | None = None) -> Path:
    """The file `name` (relative to LOUPE_GENERAL_DATA_DIR, or "upload:<id>" of `project`) after checking it stays inside its folder.

    Raises
    ------
    GeneralDataUnusable
        The option is off, the path leaves the folder, there is no such file, or no such upload in the project.
    """
    if name.startswith(UPLOAD_PREFIX):
        return _upload_source(name, project)[0]
    root = general_data_root()
    if root is None:
        raise GeneralDataUnusable("General-purpose data is off: an administrator sets LOUPE_GENERAL_DATA_DIR to a folder first.")
    path = (root / name).resolve()
    if not path.is_relative_to(root) or path == root:
        raise GeneralDataUnusable(f"{name!r} is not inside the general-data folder.")
    if not path.is_file():
        raise GeneralDataUnusable(f"No file {name!r} in the general-data folder.")
    if path.suffix.lower() != ".json":
        raise GeneralDataUnusable(f"{name!r} is not a .json file (LLaVA-style instruction data).")
    if path.stat().st_size > GENERAL_MAX_BYTES:
        raise GeneralDataUnusable(f"{name!r} is larger than {GENERAL_MAX_BYTES // 2**20} MiB.")
    return path


def general_files_available() -> list[str]:
    """The .json files under the general-data folder (relative names), for the Retrain form."""
    root = general_data_root()
    if root is None or not root.is_dir():
        return []
    return sorted(str(p.relative_to(root)) for p in root.rglob("*.json") if p.is_file())[:200]


def general_data_load(name: str, *, project: Project | None = None) -> tuple[list, dict[str, str]]:
    """The conversations of a general-purpose file (or of `project`'s upload "upload:<id>") and {image key: absolute path} of its images.

    Images are looked up beside the file (paths relative to its folder) and must stay inside the
    general-data folder (the upload's folder) and exist; every problem is reported with its record.

    Raises
    ------
    GeneralDataUnusable
    """
    if name.startswith(UPLOAD_PREFIX):
        path, root = _upload_source(name, project)
    else:
        path, root = general_data_path(name), general_data_root()
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise GeneralDataUnusable(f"{name!r} is not valid JSON: {error}") from error
    if not isinstance(records, list) or not records:
        raise GeneralDataUnusable(f"{name!r} must hold a non-empty list of LLaVA-style records.")
    files: dict[str, str] = {}

    def image_key(relative: str) -> str:
        image = (path.parent / relative).resolve()
        if not image.is_relative_to(root):
            raise kinds.GeneralDataError(f"image {relative!r} is outside the general-data folder")
        if not image.is_file():
            raise kinds.GeneralDataError(f"image {relative!r} is missing")
        key = GENERAL_KEY_PREFIX + str(image.relative_to(root))
        files[key] = str(image)
        return key

    try:
        conversations = kinds.general_conversations(records, image_key=image_key)
    except kinds.GeneralDataError as error:
        raise GeneralDataUnusable(f"{name!r}: {error}") from error
    return conversations, files


def numeric_scores(images: dict[int, tuple]) -> list[kinds.NumericScores]:
    """MOS and attribute scores (0-100 manifest columns named like paper 000's five) of images with a MOS.

    `images`: id -> (id, file, source, reference id, mos, authenticity, attributes).
    """
    out = []
    for image_id, row in images.items():
        mos, attributes = row[4], row[6] if len(row) > 6 else {}
        if mos is None:
            continue
        found = []
        for name in ATTRIBUTES:
            try:
                value = float((attributes or {}).get(name))
            except (TypeError, ValueError):
                continue
            if math.isfinite(value) and 0.0 <= value <= 100.0:
                found.append((name, value))
        out.append(kinds.NumericScores(str(image_id), float(mos), tuple(found)))
    return out
