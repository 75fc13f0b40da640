"""The export registry: what a format is, what its writer reads, and the table of formats by name.

Formats register themselves with `format_register` (exports/formats.py, exports/trainer_formats.py, and apps such
as studies from their `ready()`); the form, the API and `manage.py export_dataset` offer whatever is registered.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TextIO

from django.db.models import QuerySet

from annotation.models import Judgement, Project
from exports.filters import ExportFilters

DEFAULT_CHUNK_SIZE = 2000


class ExportDataError(ValueError):
    """The project's data cannot make this format (e.g. nothing the critic could train on)."""


@dataclass
class ExportContext:
    """What a writer reads: the project, its filtered judgements, and a progress counter."""

    project: Project
    filters: ExportFilters
    judgements: QuerySet[Judgement]
    chunk_size: int = DEFAULT_CHUNK_SIZE
    on_progress: Callable[[int], None] | None = None
    rows_written: int = 0
    notes: dict | None = None
    #: What several formats of one export share (the training set the conversation variants serialise), built once.
    shared: dict = field(default_factory=dict)

    def tick(self, rows: int = 1) -> None:
        """Count rows written; report every `chunk_size` rows."""
        before = self.rows_written // self.chunk_size
        self.rows_written += rows
        if self.on_progress is not None and self.rows_written // self.chunk_size != before:
            self.on_progress(self.rows_written)

    def note(self, format_name: str, text: str) -> None:
        """Something a reader of the export should know (goes into the manifest)."""
        if self.notes is None:
            self.notes = {}
        self.notes[format_name] = text


@dataclass(frozen=True)
class ExportFormat:
    """One format: its name (the API's and the command's word for it), file name, label and writer."""

    name: str
    file_name: str
    label: str
    content_type: str
    write: Callable[[ExportContext, TextIO], int]
    expected_rows: Callable[[ExportContext], int]
    #: Files written beside this one in the zip (name -> text), e.g. LLaMA-Factory's dataset_info.json; a format
    #: with companions always downloads as a zip.
    companions: Callable[[ExportContext], dict[str, str]] | None = None


FORMATS: dict[str, ExportFormat] = {}


def format_register(export_format: ExportFormat) -> ExportFormat:
    if export_format.name in FORMATS:
        raise ValueError(f"format {export_format.name!r} is registered already")
    FORMATS[export_format.name] = export_format
    return export_format


def formats_bundled(formats: Sequence[str], *, include_images: bool) -> bool:
    """Whether these formats download as a zip with a manifest (several, images, or a format with companions)."""
    return include_images or len(formats) != 1 or any(FORMATS[name].companions is not None for name in formats if name in FORMATS)
