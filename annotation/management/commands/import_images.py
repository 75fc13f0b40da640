"""`manage.py import_images PROJECT FOLDER [--manifest CSV]`: import a server-side folder of images."""
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from annotation.models import ImportBatch, Project
from annotation.services.imports import ImportRequestError, import_folder, import_options_clean


class Command(BaseCommand):
    help = (
        "Import every image (and zip of images) under FOLDER into the project with slug PROJECT. "
        "With --manifest, import the files its rows name, with their MOS, source dataset, reference and labels."
    )

    def add_arguments(self, parser):
        parser.add_argument("project", help="the project's slug")
        parser.add_argument("folder", type=Path)
        parser.add_argument("--manifest", type=Path, help="CSV: filename, mos (or dmos), mos_min, mos_max, mos_std, source, reference, authenticity, any other columns")
        parser.add_argument("--mos-scale", nargs=2, type=float, metavar=("MIN", "MAX"), help="the MOS scale for rows that give none")
        parser.add_argument(
            "--mos-lower-is-better", action="store_true", help="the manifest's mos column holds DMOS: flip it so higher is better",
        )
        parser.add_argument("--source-dataset", default="", help="source dataset for rows (or files) that give none")
        parser.add_argument("--user", help="username recorded as the importer")

    def handle(self, *args, project, folder, manifest, mos_scale, mos_lower_is_better, source_dataset, user, **options):
        try:
            target = Project.objects.get(slug=project)
        except Project.DoesNotExist:
            raise CommandError(f"no project with slug '{project}'") from None
        importer = None
        if user:
            importer = get_user_model().objects.filter(username=user).first()
            if importer is None:
                raise CommandError(f"no user '{user}'")
        try:
            batch_options = import_options_clean(
                mos_min=mos_scale[0] if mos_scale else None,
                mos_max=mos_scale[1] if mos_scale else None,
                source_dataset=source_dataset,
                mos_lower_is_better=mos_lower_is_better,
            )
            batch = import_folder(project=target, user=importer, folder=folder, manifest=manifest, options=batch_options)
        except ImportRequestError as exc:
            raise CommandError(str(exc)) from exc
        for entry in batch.report:
            if entry["status"] in ("error", "duplicate"):
                self.stdout.write(f"{entry['status']:>9}  {entry['name']}: {entry['message']}")
        if batch.status == ImportBatch.Status.FAILED:
            raise CommandError(batch.error)
        self.stdout.write(
            self.style.SUCCESS(
                f"Import #{batch.pk}: {batch.imported_count} imported, {batch.duplicate_count} duplicates, {batch.error_count} errors."
            )
        )
