"""Simulated demo annotators: they work through the real queue, careless ones are caught, scores follow severity."""
import io

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from scipy import stats

from annotation.models import Judgement, Lease, Membership, WorkItem
from annotation.services.demo import demo_seed
from annotation.services.exclusion import annotator_exclude
from annotation.services.work import project_settings_update
from evaluation.demo_observers import SimulationConfig, observers_simulate
from modeling.selection.services import pair_queue_refill
from evaluation.models import ItemScore
from evaluation.quality import annotator_screening
from evaluation.services import project_scale
from tests.factories import ImageFactory, ProjectFactory

# 6 honest observers (pairs x3, rating, description, pathway) and 2 careless ones (straight-lining, reversed).
CONFIG = SimulationConfig(observers=8, items_per_observer=20, careless=2, seed=7)


@pytest.fixture
def demo_project(db):
    """The small seeded demo project. Its gold rate is raised so that a 20-item run meets >= 5 hidden gold items
    per observer, which quality control needs before it judges anyone's gold accuracy."""
    project = demo_seed(small=True).project
    return project_settings_update(project, gold_rate=0.3)


def _refill(project, rng):
    """The active selector's synchronous refill, as the simulate_annotators command passes it."""
    return pair_queue_refill(project, rng=rng)


def _sim_judgements(project):
    return Judgement.objects.filter(project=project, annotator__username__startswith="sim-")


def test_observers_answer_every_kind_through_the_queue(demo_project):
    """Each observer passes training and submits its leased items of every enabled kind, gold included, up to its total."""
    report = observers_simulate(project=demo_project, config=CONFIG, pairs_refill=_refill)

    users = get_user_model().objects.filter(username__startswith="sim-").order_by("username")
    assert [user.username for user in users] == [f"sim-careless-{n}" for n in (1, 2)] + [f"sim-observer-{n}" for n in range(1, 7)]
    for user in users:
        assert user.first_name == "Simulated" and not user.has_usable_password() and user.role == "annotator"
        membership = Membership.objects.get(project=demo_project, user=user)
        assert membership.role == Membership.Role.ANNOTATOR and membership.training_passed_at is not None
        work = Judgement.objects.filter(project=demo_project, annotator=user, training_attempt__isnull=True, is_repeat=False)
        assert work.count() == CONFIG.items_per_observer
    judgements = _sim_judgements(demo_project).filter(training_attempt__isnull=True)
    assert set(judgements.values_list("kind", flat=True)) == set(demo_project.task_kinds)
    assert judgements.filter(purpose=WorkItem.Purpose.GOLD, gold_correct__isnull=False).exists()
    # Every judgement came from a lease of its own annotator that the queue closed as submitted; none is left open.
    for judgement in judgements.select_related("lease"):
        assert judgement.lease.annotator_id == judgement.annotator_id and judgement.lease.status == Lease.Status.SUBMITTED
    assert not Lease.objects.filter(annotator__username__startswith="sim-", status=Lease.Status.ACTIVE).exists()
    assert sum(report.added_by_kind.values()) == judgements.count()
    assert dict(report.added_by_kind) == {
        kind: judgements.filter(kind=kind).count() for kind in demo_project.task_kinds if judgements.filter(kind=kind).exists()
    }
    # Questionnaires get the observer's own paragraph; no work item has more judgements than the overlap.
    assert all(j.text_revision.final_text for j in judgements.filter(kind="description").select_related("text_revision"))
    assert not WorkItem.objects.filter(project=demo_project, purpose=WorkItem.Purpose.WORK, judgement_count__gt=demo_project.overlap).exists()
    assert report.scaling_run is not None and report.scaling_run.status == "done"


def test_screening_flags_the_careless_and_scores_follow_severity(demo_project):
    """Quality control flags the straight-liner and the reversed observer, no honest one; scaling recovers severity."""
    report = observers_simulate(project=demo_project, config=CONFIG, pairs_refill=_refill)
    rows = {row["username"]: row for row in annotator_screening(project=demo_project)}

    assert "straight-lining" in rows["sim-careless-1"]["flags"]
    assert rows["sim-careless-2"]["flags"]  # reversed: gold accuracy far below 50%, often the pair outlier test too
    assert rows["sim-careless-2"]["gold"]["answered"] >= 5 and rows["sim-careless-2"]["gold"]["accuracy"] < 0.5
    for n in range(1, 7):
        assert rows[f"sim-observer-{n}"]["flags"] == [], rows[f"sim-observer-{n}"]

    def srcc(run) -> float:
        rows = ItemScore.objects.filter(run=run).filter(n_comparisons__gt=0) | ItemScore.objects.filter(run=run, n_ratings__gt=0)
        scores, severities = zip(*((row.score, row.image.hidden_ground_truth["severity"]) for row in rows.select_related("image")))
        return stats.spearmanr(scores, -np.asarray(severities)).statistic

    assert srcc(report.scaling_run) > 0.3  # careless data included
    researcher = demo_project.created_by
    for username in ("sim-careless-1", "sim-careless-2"):
        annotator_exclude(project=demo_project, annotator=get_user_model().objects.get(username=username), by=researcher,
                          reason="flagged by quality control")
    assert srcc(project_scale(demo_project)) > 0.7


def test_rerun_is_idempotent_and_a_larger_total_tops_up(demo_project):
    """Running again with the same numbers creates no account and no judgement; a larger total adds the difference."""
    out = io.StringIO()
    args = ["demo", "--observers", "2", "--careless", "1", "--items-per-observer", "3", "--seed", "1", "--no-scale"]
    call_command("simulate_annotators", *args, stdout=out)
    first = _sim_judgements(demo_project).filter(training_attempt__isnull=True).count()
    call_command("simulate_annotators", *args, stdout=out)

    assert get_user_model().objects.filter(username__startswith="sim-").count() == 2
    assert Membership.objects.filter(project=demo_project, user__username__startswith="sim-").count() == 2
    assert first == 6 and _sim_judgements(demo_project).filter(training_attempt__isnull=True).count() == 6
    assert "Judgements added: 0" in out.getvalue()

    call_command("simulate_annotators", *[arg if arg != "3" else "5" for arg in args], stdout=out)
    assert _sim_judgements(demo_project).filter(training_attempt__isnull=True).count() == 10
    assert "sim-careless-1   straight-lining" in out.getvalue()


def test_careless_observers_stop_at_their_own_total(demo_project):
    """--careless-items caps each careless observer's total (enough for quality control), honest ones go on to theirs."""
    args = ["demo", "--observers", "2", "--careless", "1", "--items-per-observer", "4", "--careless-items", "2", "--seed", "1", "--no-scale"]
    call_command("simulate_annotators", *args, stdout=io.StringIO())
    work = _sim_judgements(demo_project).filter(training_attempt__isnull=True, is_repeat=False)
    assert work.filter(annotator__username="sim-careless-1").count() == 2
    assert work.filter(annotator__username="sim-observer-1").count() == 4


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nosuch"], "no project with slug 'nosuch'"),
        (["demo", "--observers", "0"], "observers must be from 1 to 100"),
        (["demo", "--observers", "2", "--careless", "2"], "careless must be from 0 to observers - 1"),
        (["demo", "--careless", "-1"], "careless must be from 0"),
        (["demo", "--items-per-observer", "-5"], "items per observer must be from 0 to 10000"),
        (["demo", "--seed", "-1"], "seed must be >= 0"),
        (["demo", "--careless-items", "-1"], "careless items must be from 0 to 10000"),
    ],
)
@pytest.mark.django_db
def test_bad_arguments_are_command_errors(args, message):
    """Unknown projects and out-of-range numbers stop the command with a message saying what is wrong."""
    ProjectFactory(slug="demo")
    with pytest.raises(CommandError, match=message):
        call_command("simulate_annotators", *args, stdout=io.StringIO())
    assert not get_user_model().objects.filter(username__startswith="sim-").exists()


@pytest.mark.django_db
def test_projects_without_ground_truth_or_task_kinds_are_refused():
    """A project whose images carry no hidden severity, or that enables no task kind, has nothing to simulate from."""
    project = ProjectFactory(slug="plain")
    ImageFactory(project=project)
    with pytest.raises(CommandError, match="no enabled task kinds"):
        call_command("simulate_annotators", "plain", stdout=io.StringIO())
    project_settings_update(project, task_kinds=["rating"])
    with pytest.raises(CommandError, match="no images with a hidden ground-truth severity"):
        call_command("simulate_annotators", "plain", stdout=io.StringIO())
