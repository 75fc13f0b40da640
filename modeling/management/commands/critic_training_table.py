"""Print what a training set would hold: conversations per task and source, the configured vs built mix, distinct images."""
from django.core.management.base import BaseCommand, CommandError

from annotation.models import Project
from modeling.critic.data import CriticDataError, CriticDataSettings, judgement_last_id, training_set_build
from modeling.critic.models import CriticVersion
from modeling.critic.recipes import RECIPES, RecipeError, recipe_overrides


def training_table(composition: dict, *, counts: dict, title: str) -> str:
    """The printed table of one built set (CriticVersion.training_composition and conversation counts)."""
    lines = [title, "", f"{'task':<22}{'conversations':>14}  per source"]
    for task, row in sorted(composition.get("by_task_source", {}).items()):
        per_source = ", ".join(f"{source} {n}" for source, n in sorted(row.items()))
        lines.append(f"{task:<22}{counts.get(task, 0):>14}  {per_source}")
    lines.append(f"{'total':<22}{sum(counts.values()):>14}  distinct images {composition.get('distinct_images', 0)}")
    mix = composition.get("mix") or {}
    if mix.get("configured"):
        lines += ["", f"mix by {mix['by']}: {'name':<20}{'configured':>11}{'built':>8}"]
        for name, share in mix["configured"].items():
            lines.append(f"{'':<13}{name:<21}{share:>10.1%}{mix['actual'].get(name, 0.0):>8.1%}")
        if mix.get("missing"):
            lines.append(f"no data for: {', '.join(mix['missing'])}")
    elif mix.get("stages"):
        lines += ["", "curriculum stages: " + ", ".join(f"{name} {n}" for name, n in mix["stages"].items())]
    lines += [f"note: {note}" for note in composition.get("notes", [])]
    return "\n".join(lines)


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("project", type=int, help="project id")
        parser.add_argument("--recipe", choices=sorted(RECIPES), default="default", help="a paper's recipe (default: the deployment's)")
        parser.add_argument("--critic-version", dest="critic_version", type=int, help="a version's number: print the set it recorded (or rebuild it with its settings)")
        parser.add_argument("--seed", type=int, default=None, help="data seed (default: the settings')")

    def handle(self, *args, project, recipe, critic_version=None, seed=None, **options):
        version = critic_version
        from modeling.critic.services import _merged, training_settings_default
        from modeling.critic.storage import base_is_tiny, critic_base_dir

        found = Project.objects.filter(pk=project).first()
        if found is None:
            raise CommandError(f"No project {project}.")
        if version is not None:
            row = CriticVersion.objects.filter(project=found, number=version).first()
            if row is None:
                raise CommandError(f"Project {project} has no critic v{version}.")
            if row.training_composition:
                self.stdout.write(training_table(row.training_composition, counts=row.conversation_counts,
                                                 title=f"critic v{row.number} ({row.training_settings.get('recipe', 'default')})"))
                return
            chosen, last_id = row.training_settings, row.last_judgement_id or 0
        else:
            defaults = training_settings_default(tiny=base_is_tiny(critic_base_dir()))
            try:
                chosen = _merged(defaults, recipe_overrides(recipe, defaults=defaults))
            except RecipeError as error:
                raise CommandError(str(error)) from error
            last_id = judgement_last_id(project=found)
        data = dict(chosen["data"], **({"seed": seed} if seed is not None else {}))
        try:
            built = training_set_build(project=found, last_judgement_id=last_id, data=CriticDataSettings(**data))
        except (CriticDataError, TypeError, ValueError) as error:
            raise CommandError(str(error)) from error
        title = f"project {found.pk} ({found.name}), recipe {chosen.get('recipe', recipe)}"
        self.stdout.write(training_table(built.composition, counts=built.counts, title=title))
