"""`manage.py simulate_annotators PROJECT`: simulated observers answer a project's queue from its hidden ground truth."""
from django.core.management.base import BaseCommand, CommandError

from annotation.models import Project
from annotation.services.queue import QueueError
from evaluation.demo_observers import SimulationConfig, SimulationError, observers_simulate
from modeling.selection.services import pair_queue_refill

_DEFAULTS = SimulationConfig()


class Command(BaseCommand):
    help = (
        "Create labelled simulated annotators (sim-observer-N, sim-careless-N; first name 'Simulated', no usable "
        "password) in the project with slug PROJECT and let each pass the training round and answer every task kind "
        "through the real queue, from the images' hidden ground truth (severity, distortion) plus Thurstone noise; "
        "careless ones answer at random or always alike. --items-per-observer (--careless-items for careless ones) is a TOTAL per observer: running again "
        "with the same numbers adds nothing, a larger number tops each observer up. Scores are fitted at the end."
    )

    def add_arguments(self, parser):
        parser.add_argument("project", help="the project's slug")
        parser.add_argument("--observers", type=int, default=_DEFAULTS.observers, help=f"simulated observers in all (default {_DEFAULTS.observers})")
        parser.add_argument(
            "--items-per-observer", type=int, default=_DEFAULTS.items_per_observer,
            help=f"work and gold judgements each observer should have in the project in total (default {_DEFAULTS.items_per_observer})",
        )
        parser.add_argument("--careless", type=int, default=_DEFAULTS.careless, help=f"how many of them are careless (default {_DEFAULTS.careless})")
        parser.add_argument(
            "--careless-items", type=int, default=_DEFAULTS.careless_items,
            help=f"total work and gold judgements of each careless observer, at most --items-per-observer (default {_DEFAULTS.careless_items})",
        )
        parser.add_argument("--seed", type=int, default=_DEFAULTS.seed, help=f"random seed (default {_DEFAULTS.seed})")
        parser.add_argument("--no-scale", action="store_true", help="do not fit the scores at the end")

    def handle(self, *args, project, observers, items_per_observer, careless, careless_items, seed, no_scale, **options):
        target = Project.objects.filter(slug=project).first()
        if target is None:
            raise CommandError(f"no project with slug '{project}'")
        try:
            config = SimulationConfig(
                observers=observers, items_per_observer=items_per_observer, careless=careless, careless_items=careless_items, seed=seed,
            )
            report = observers_simulate(
                project=target, config=config, scale=not no_scale,
                pairs_refill=lambda project, rng: pair_queue_refill(project, rng=rng),
            )
        except (ValueError, SimulationError) as exc:
            raise CommandError(str(exc)) from exc
        except QueueError as exc:  # e.g. a simulated account that was deactivated or made a researcher
            raise CommandError(f"the queue refused a simulated observer: {exc.message}") from exc

        for observer in report.observers:
            kinds = ", ".join(f"{kind} {count}" for kind, count in sorted(observer.added.items())) or "nothing new"
            state = "created" if observer.created else "existing"
            note = f"; stopped: {observer.stopped}" if observer.stopped else ""
            self.stdout.write(
                f"  {observer.username:<16} {observer.behaviour:<16} {state:<8} noise sd {observer.noise_sd:.2f}, "
                f"added {kinds} ({observer.gold_added} gold), {observer.total} in all{note}"
            )
        added = report.added_by_kind
        by_kind = ", ".join(f"{kind} {count}" for kind, count in sorted(added.items())) or "none"
        careless_names = ", ".join(f"{o.username} ({o.behaviour})" for o in report.careless) or "none"
        self.stdout.write(f"Observers: {len(report.observers)} simulated; careless: {careless_names}")
        self.stdout.write(f"Judgements added: {sum(added.values())} ({by_kind}); pairs queued by the selector: {report.pairs_refilled}")
        run = report.scaling_run
        if run is not None:
            self.stdout.write(f"Scores: scaling run #{run.pk}, {run.n_comparisons} comparisons and {run.n_ratings} ratings")
        self.stdout.write(self.style.SUCCESS(f"{target.slug}: simulation done in {report.seconds:.1f} s."))
