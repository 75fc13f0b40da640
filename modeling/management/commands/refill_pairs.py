"""`manage.py refill_pairs PROJECT`: top up a project's comparison pairs now, in this process."""
from django.core.management.base import BaseCommand, CommandError

from annotation.models import Project
from modeling.selection.services import pair_queue_refill_run


class Command(BaseCommand):
    help = (
        "Top up the comparison pairs of the project with slug PROJECT, synchronously: with pair source "
        "`proposed`, the active selector proposes a batch from the current scores; otherwise pairs are drawn "
        "from the pair source. Adds nothing while a full batch is open."
    )

    def add_arguments(self, parser):
        parser.add_argument("project", help="the project's slug")
        parser.add_argument("--seed", type=int, help="seed of the selector's random draws (default: fresh; the seed used is printed)")

    def handle(self, *args, project, seed=None, **options):
        target = Project.objects.filter(slug=project).first()
        if target is None:
            raise CommandError(f"no project with slug '{project}'")
        if seed is not None and seed < 0:
            raise CommandError("--seed must be >= 0")
        result = pair_queue_refill_run(target, seed=seed)
        details = f"pair source {result.pair_source}"
        if result.strategy_used:
            details += f", strategy {result.strategy_used} (asked: {result.strategy_requested})"
            details += f", critic version {result.critic_version_id or 'none'}"
        if result.seed is not None:
            details += f", seed {result.seed}"
        summary = f"{result.added} pairs added ({result.open_before} were open; batch {result.batch_size}; {details})."
        self.stdout.write(self.style.SUCCESS(f"{target.slug}: {summary}"))
        if result.note:
            self.stdout.write(result.note)
