"""Reads of the modeling app: the proposed pairs in a project's queue and where each one stands."""
from django.db.models import Case, Count, Exists, F, OuterRef, Q, QuerySet, Value, When
from django.utils import timezone

from annotation.models import Lease, Project, WorkItem
from annotation.vocabulary import TaskKind

#: Where a proposed pair stands: waiting for its first annotator, being worked on, judged by as many
#: annotators as the project's overlap, or no longer served (superseded by a newer batch).
PROPOSAL_STATES = ("open", "served", "judged", "retired")


def proposed_pairs(*, project: Project, state: str | None = None) -> QuerySet[WorkItem]:
    """The project's proposed pair items (a strategy recorded), newest batch first, each with `state` and `leased`."""
    now = timezone.now()
    held = Lease.objects.filter(item=OuterRef("pk"), status=Lease.Status.ACTIVE, expires_at__gt=now)
    items = (
        WorkItem.objects.filter(project=project, kind=TaskKind.PAIR, purpose=WorkItem.Purpose.WORK)
        .exclude(strategy="")
        .select_related("image", "image_b")
        .annotate(leased=Exists(held))
        .annotate(
            state=Case(
                When(retired=True, then=Value("retired")),
                When(judgement_count__gte=F("extra_judgements") + project.overlap, then=Value("judged")),
                When(Q(judgement_count__gt=0) | Q(leased=True), then=Value("served")),
                default=Value("open"),
            )
        )
        .order_by(F("priority").desc(), "id")
    )
    if state in PROPOSAL_STATES:
        items = items.filter(state=state)
    return items


def proposed_pair_counts(*, project: Project) -> dict[str, int]:
    """How many proposed pairs are in each state (every state present, 0 if none)."""
    counts = dict.fromkeys(PROPOSAL_STATES, 0)
    rows = proposed_pairs(project=project).order_by().values("state").annotate(n=Count("id"))
    for row in rows:
        counts[row["state"]] = row["n"]
    return counts


def selection_critic_number(*, project: Project) -> int | None:
    """The number of the critic version whose prior chose the project's newest proposed pairs, or None (no prior)."""
    from modeling.critic.models import CriticVersion

    newest = WorkItem.objects.filter(project=project, kind=TaskKind.PAIR).exclude(strategy="").order_by("-id").first()
    if newest is None or newest.critic_version_id is None:
        return None
    return CriticVersion.objects.filter(pk=newest.critic_version_id, project=project).values_list("number", flat=True).first()
