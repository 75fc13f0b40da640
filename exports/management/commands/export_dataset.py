"""`manage.py export_dataset PROJECT --format pairs --out pairs.csv [filters]`: write an export synchronously."""
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from annotation.models import Project
from config.parsing import parse_int
from exports.filters import ExportInputError, export_filters_parse
from exports.formats import FORMATS, ExportDataError
from exports.writing import export_write


class Command(BaseCommand):
    help = (
        "Stream a project's datasets to a file: one --format to a plain file, several (or --images) to a zip with "
        "manifest.json. Formats: " + ", ".join(FORMATS) + "."
    )

    def add_arguments(self, parser):
        parser.add_argument("project", help="The project's id or slug.")
        parser.add_argument("--format", dest="formats", action="append", required=True, help="A format; repeat for several.")
        parser.add_argument("--out", required=True, help="The file to write (replaced only once complete).")
        parser.add_argument("--images", action="store_true", help="Put the image files in the zip.")
        parser.add_argument("--from", dest="date_from", help="Judgements submitted on or after this day (YYYY-MM-DD).")
        parser.add_argument("--to", dest="date_to", help="Judgements submitted on or before this day (YYYY-MM-DD).")
        parser.add_argument("--annotator", dest="annotators", action="append", help="A username or id; repeat for several.")
        parser.add_argument("--gold-min", dest="gold_min_accuracy", help="Only annotators with at least this gold accuracy (0-1).")
        parser.add_argument("--include-excluded", action="store_true", help="Keep judgements excluded by quality control.")

    def handle(self, *args, project, formats, out, images, **options):
        found = Project.objects.filter(slug=project).first() or Project.objects.filter(pk=parse_int(project) or 0).first()
        if found is None:
            raise CommandError(f"No project with the id or slug {project!r}.")
        target = Path(out)
        partial = target.with_name(target.name + ".part")
        started = time.monotonic()
        try:
            filters = export_filters_parse(project=found, data={
                "date_from": options["date_from"], "date_to": options["date_to"], "annotators": options["annotators"],
                "gold_min_accuracy": options["gold_min_accuracy"], "include_excluded": options["include_excluded"],
            })
            result = export_write(project=found, formats=formats, filters=filters, include_images=images, path=partial)
        except (ExportInputError, ExportDataError) as error:
            partial.unlink(missing_ok=True)
            raise CommandError(str(error)) from None
        partial.replace(target)
        rows = ", ".join(f"{name}: {count}" for name, count in result.row_counts.items())
        self.stdout.write(self.style.SUCCESS(
            f"Wrote {target} ({result.size_bytes} bytes, sha256 {result.sha256}) in {time.monotonic() - started:.1f} s; rows {rows}."
        ))
        for name, note in result.notes.items():
            self.stdout.write(f"{name}: {note}")
