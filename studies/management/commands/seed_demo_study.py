"""`manage.py seed_demo_study [PROJECT]`: the demo's side-by-side study (run by `make demo` after seed_demo)."""
from django.core.management.base import BaseCommand, CommandError

from annotation.models import Project
from studies.demo import demo_study_seed


class Command(BaseCommand):
    help = "Create the demo's side-by-side study (two offline describers, voted on by annotator1 and annotator2); running it again changes nothing."

    def add_arguments(self, parser):
        parser.add_argument("project", nargs="?", default="demo", help="the project's slug (default: demo)")

    def handle(self, *args, **options):
        project = Project.objects.filter(slug=options["project"]).first()
        if project is None:
            raise CommandError(f"No project '{options['project']}': run seed_demo first.")
        study = demo_study_seed(project=project)
        if study is None:
            raise CommandError("The project has no distorted images with hidden ground truth to build the study from.")
        self.stdout.write(f"Side-by-side study: '{study.name}' (#{study.pk}), voted on by annotator1 and annotator2")
