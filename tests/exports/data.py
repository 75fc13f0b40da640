"""Test data for exports: judgements written straight to the database with chosen answers, annotators and days."""
import datetime as dt
import uuid

from django.utils import timezone

from annotation.models import Judgement, Lease, TextRevision, WorkItem
from annotation.vocabulary import TaskKind
from tests.factories import ImageFactory, PairItemFactory, WorkItemFactory

DAY = dt.date(2026, 3, 10)


def at(day: dt.date, hour: int = 12) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour)))


def judge(item: WorkItem, annotator, *, day: dt.date = DAY, excluded: bool = False, is_repeat: bool = False, **fields) -> Judgement:
    """One submitted judgement of `item` by `annotator` on `day` (fields: answer, level, choice, swap, gold_correct)."""
    now = at(day)
    lease = Lease.objects.create(
        item=item, annotator=annotator, status=Lease.Status.SUBMITTED, issued_at=now, expires_at=now, closed_at=now,
        swap=fields.get("swap", False), is_repeat=is_repeat,
    )
    answer = fields.pop("answer", None)
    if answer is None:
        answer = {"level": fields["level"]} if "level" in fields else {"choice": fields.get("choice", "")}
    judgement = Judgement.objects.create(
        item=item, lease=lease, annotator=annotator, project=item.project, kind=item.kind, purpose=item.purpose,
        client_id=uuid.uuid4(), answer=answer, issued_at=now, excluded=excluded, is_repeat=is_repeat, **fields,
    )
    Judgement.objects.filter(pk=judgement.pk).update(submitted_at=now)  # auto_now_add: set the day afterwards
    judgement.submitted_at = now
    return judgement


def rating_item(project, image=None):
    return WorkItemFactory(project=project, kind=TaskKind.RATING, **({"image": image} if image else {}))


def pair_item(project, a, b):
    return PairItemFactory(project=project, image=a, image_b=b)


def images(project, count: int, **fields):
    return [ImageFactory(project=project, **fields) for _ in range(count)]


def revision(judgement, *, draft: str, final: str) -> TextRevision:
    return TextRevision.objects.create(
        judgement=judgement, annotator=judgement.annotator, project=judgement.project, status=TextRevision.Status.SAVED,
        prompt_name="description_paragraph", prompt_version=1, model="loupe-template-drafter", draft=draft,
        final_text=final, edit_distance=abs(len(final) - len(draft)), saved_at=timezone.now(), drafted_at=timezone.now(),
    )
