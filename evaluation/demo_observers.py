"""Simulated annotators for the demo: Thurstone observers that answer from hidden ground truth through the real queue.

Each simulated observer is an ordinary annotator account (labelled: username `sim-observer-<n>` or
`sim-careless-<n>`, first name "Simulated", no usable password) that passes the training round and then asks
`annotation.services.queue.assignment_next` for work and answers with `judgement_submit`, exactly as the
annotation page does; so leases, overlap, hidden gold, fatigue pauses, text revisions and the signals that
queue scaling runs and pair refills all happen as for people.

How they answer is evaluation/demo_answers.py (Thurstone observers on the hidden severity and distortion).
Careless observers pass the training round attentively and then always press the same key
("straight-lining"), read the scale upside down ("reversed") or answer at random ("random"), so that quality
control's screening has something to flag. Honest observers each stick to one task kind (two per kind first);
all of them work side by side in rounds on one simulated clock, so items get the overlap's two judgements.

Runs are idempotent: `items_per_observer` is the TOTAL of work and gold judgements each observer should have
in the project, so running again with the same numbers adds nothing, and a larger number tops every observer up.
"""
from __future__ import annotations

import math
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from accounts.models import Role
from annotation.models import Image, Judgement, Membership, Project, WorkItem
from annotation.services.queue import NoWork, Paused, assignment_next, judgement_submit, lease_release
from annotation.services.revisions import revision_for_judgement, revision_save
from annotation.services.training import training_next, training_restart, training_status
from annotation.services.work import pair_items_open_count
from annotation.vocabulary import TaskKind
from evaluation.demo_answers import HONEST_NOISE_SD, SimulatedObserver, ground_truth, looks_hard, pathway_description

HONEST_PREFIX = "sim-observer-"
CARELESS_PREFIX = "sim-careless-"
SIMULATED_FIRST_NAME = "Simulated"
#: Careless behaviours, given in turn to sim-careless-1, -2, ...: always the same key; the scale read upside down
#: (5 for bad, the worse image of a pair); answers at random.
CARELESS_BEHAVIOURS = ("straight-lining", "reversed", "random")
#: Seconds an observer spends on one item of each kind (the median of a log-normal).
SECONDS_PER_ITEM = {TaskKind.RATING: 5, TaskKind.PAIR: 6, TaskKind.PATHWAY: 45, TaskKind.DESCRIPTION: 25}
#: Simulated seconds per round of the shared session (every observer asks, then answers, once per round).
ROUND_SECONDS = 30
MAX_TRAINING_ATTEMPTS = 5
#: The kinds honest observers work on, in turn: two of each kind first (so that quality control finds items
#: two people answered), then two more raters (a second pair of raters covers other images than the first, since
#: two people fill an item's overlap: the critic's scoring labels then reach nearly every image), then pairs.
HONEST_KIND_CYCLE = (TaskKind.RATING, TaskKind.PAIR, TaskKind.DESCRIPTION, TaskKind.PATHWAY, TaskKind.RATING, TaskKind.PAIR,
                     TaskKind.DESCRIPTION, TaskKind.PATHWAY, TaskKind.RATING, TaskKind.RATING, TaskKind.PAIR, TaskKind.PAIR)
#: Items of other kinds an observer skips in a row before taking what the queue serves (see _ask); before the
#: first answer the queue serves kinds at random, so finding the observer's own kind may take longer.
MAX_KIND_SKIPS = 12
MAX_START_SKIPS = 60
#: Open pairs are topped up (synchronously, by the active selector) after this many judgements when low.
PAIR_REFILL_CHECK_EVERY = 10


class SimulationError(ValueError):
    """The simulation cannot run on this project (no ground truth, nothing to do)."""


@dataclass(frozen=True)
class SimulationConfig:
    """How many simulated observers, how much each does in total, how many are careless, and the seed.

    The defaults are the demo's (`make demo`): 10 honest observers (4 raters, 2 on pairs, 2 on descriptions, 2 on
    pathway feedback) with 100 items each and 2 careless ones with 24: ratings on nearly every one of the demo's
    216 images, enough for one Retrain of the tiny critic to learn (docs/benchmarks.md, "The demo loop").
    """

    observers: int = 12
    items_per_observer: int = 100
    careless: int = 2
    seed: int = 0
    #: Careless observers stop here (or at items_per_observer if smaller): enough for quality control to flag
    #: them, without drowning the honest labels the demo's critic trains on.
    careless_items: int = 24

    def __post_init__(self):
        if not 1 <= self.observers <= 100:
            raise ValueError("observers must be from 1 to 100")
        if not 0 <= self.items_per_observer <= 10_000:
            raise ValueError("items per observer must be from 0 to 10000")
        if not 0 <= self.careless_items <= 10_000:
            raise ValueError("careless items must be from 0 to 10000")
        if not 0 <= self.careless < self.observers:
            raise ValueError("careless must be from 0 to observers - 1 (at least one observer must be honest)")
        if self.seed < 0:
            raise ValueError("seed must be >= 0")


@dataclass
class ObserverReport:
    username: str
    behaviour: str  # "honest" or one of CARELESS_BEHAVIOURS
    created: bool
    noise_sd: float
    training_attempts: int = 0
    added: Counter = field(default_factory=Counter)  # kind -> judgements added by this run
    gold_added: int = 0
    total: int = 0  # work and gold judgements in the project after this run
    stopped: str = ""  # why it stopped before its target, if it did


@dataclass
class SimulationReport:
    project: Project
    observers: list[ObserverReport]
    pairs_refilled: int = 0
    scaling_run: object | None = None
    seconds: float = 0.0

    @property
    def added_by_kind(self) -> Counter:
        total = Counter()
        for observer in self.observers:
            total.update(observer.added)
        return total

    @property
    def careless(self) -> list[ObserverReport]:
        return [observer for observer in self.observers if observer.behaviour != "honest"]


# ---------------------------------------------------------------------------------------- accounts


def observer_accounts_ensure(*, project: Project, config: SimulationConfig) -> list[tuple[object, str, bool]]:
    """The simulated accounts, created if missing and made annotator members: (user, behaviour, created) each."""
    user_model = get_user_model()
    honest = config.observers - config.careless
    wanted = [(f"{HONEST_PREFIX}{n}", "honest") for n in range(1, honest + 1)]
    wanted += [(f"{CARELESS_PREFIX}{n}", CARELESS_BEHAVIOURS[(n - 1) % len(CARELESS_BEHAVIOURS)]) for n in range(1, config.careless + 1)]
    accounts = []
    with transaction.atomic():
        for username, behaviour in wanted:
            label = "observer" if behaviour == "honest" else f"careless observer ({behaviour})"
            user, created = user_model.objects.get_or_create(
                username=username,
                defaults={"role": Role.ANNOTATOR, "first_name": SIMULATED_FIRST_NAME, "last_name": label,
                          "email": f"{username}@simulated.invalid"},
            )
            if created:
                user.set_unusable_password()
                user.save(update_fields=["password"])
            Membership.objects.get_or_create(project=project, user=user, defaults={"role": Membership.Role.ANNOTATOR})
            accounts.append((user, behaviour, created))
    return accounts


# ----------------------------------------------------------------------------------------- the run


@dataclass
class _Session:
    """One observer's place in the shared session: what it works on and the lease it holds."""

    user: object
    observer: SimulatedObserver
    report: ObserverReport
    target: int
    kind: str
    queue_rng: random.Random
    done: int = 0
    lease: object | None = None
    resume_at: datetime | None = None  # during a fatigue pause
    finished: bool = False


def observers_simulate(
    *, project: Project, config: SimulationConfig, scale: bool = True,
    pairs_refill: Callable[[Project, np.random.Generator], int] | None = None,
) -> SimulationReport:
    """Create the simulated observers and let them work through the queue up to `items_per_observer` judgements each.

    They work at the same time, in rounds on one simulated clock that ends about now: every observer asks for
    an item, then every observer answers, so two observers of one kind are served the same item while its
    overlap allows (as two people working side by side are), which gives quality control items to agree on.
    `pairs_refill(project, rng)` (the active selector's `modeling.selection.services.pair_queue_refill`, passed
    in by the command, since evaluation does not import modeling) tops pairs up synchronously while they run low
    (the worker may not be running), and once more at the end so people find pairs too; it returns the pairs added. With `scale`, the scores are fitted at the
    end (`evaluation.services.project_scale`), so the scores page and quality control show them at once.
    """
    from evaluation.services import ScalingInputError, project_scale

    started = time.perf_counter()
    if not project.task_kinds:
        raise SimulationError(f"project '{project.slug}' has no enabled task kinds: nothing to answer")
    if not Image.objects.filter(project=project, hidden_ground_truth__has_key="severity").exists():
        raise SimulationError(
            f"project '{project.slug}' has no images with a hidden ground-truth severity to simulate observers from"
        )
    report = SimulationReport(project=project, observers=[])
    np_rng = np.random.default_rng(config.seed)
    kinds = [kind for kind in (TaskKind.RATING, TaskKind.PAIR, TaskKind.DESCRIPTION, TaskKind.PATHWAY) if kind in project.task_kinds]
    sessions = []
    for index, (user, behaviour, created) in enumerate(observer_accounts_ensure(project=project, config=config)):
        observer_rng = np.random.default_rng([config.seed, index])
        observer = SimulatedObserver(
            behaviour=behaviour, noise_sd=float(observer_rng.uniform(*HONEST_NOISE_SD)), bias=float(observer_rng.normal(0.0, 0.25)),
            rng=observer_rng,
        )
        observer_report = ObserverReport(username=user.username, behaviour=behaviour, created=created, noise_sd=observer.noise_sd)
        report.observers.append(observer_report)
        session = _Session(
            user=user, observer=observer, report=observer_report,
            target=config.items_per_observer if behaviour == "honest" else min(config.items_per_observer, config.careless_items),
            kind=_preferred_kind(kinds=kinds, index=index, behaviour=behaviour),
            queue_rng=random.Random(f"{config.seed}/{user.username}"), done=_work_done(project, user),
        )
        session.finished = session.done >= session.target
        sessions.append(session)

    refill = (lambda: pairs_refill(project, np_rng)) if pairs_refill and TaskKind.PAIR in kinds else (lambda: 0)
    remaining = sum(max(s.target - s.done, 0) for s in sessions)
    # One simulated clock for everyone, starting far enough back that the session ends about now.
    clock = timezone.now() - timedelta(seconds=remaining * ROUND_SECONDS / max(len(sessions), 1) + 3600)
    for session in sessions:
        if not session.finished:
            clock = _training_pass(project=project, session=session, clock=clock)
    report.pairs_refilled += _rounds(project=project, sessions=sessions, clock=clock, refill=refill)
    for session in sessions:
        session.report.total = _work_done(project, session.user)
    report.pairs_refilled += refill()
    if scale and report.added_by_kind:
        try:
            report.scaling_run = project_scale(project)
        except ScalingInputError:
            report.scaling_run = None
    report.seconds = time.perf_counter() - started
    return report


def _preferred_kind(*, kinds: list[str], index: int, behaviour: str) -> str:
    """The kind an observer works on: honest ones in turn over HONEST_KIND_CYCLE; careless ones on pairs (random,
    reversed) and ratings (straight-lining), where the pair likelihood test and straight-lining look."""
    wanted = {"random": TaskKind.PAIR, "reversed": TaskKind.PAIR, "straight-lining": TaskKind.RATING}.get(behaviour)
    if wanted in kinds:
        return wanted
    cycle = [kind for kind in HONEST_KIND_CYCLE if kind in kinds] or kinds
    return cycle[index % len(cycle)]


def _work_done(project: Project, user) -> int:
    return Judgement.objects.filter(project=project, annotator=user, training_attempt__isnull=True, is_repeat=False).count()


def _rounds(*, project: Project, sessions: list[_Session], clock: datetime, refill) -> int:
    """Ask-then-answer rounds until every observer reached its total or ran out of work; returns pairs refilled."""
    refilled, since_refill = refill() if pair_items_open_count(project) < project.pair_batch_size / 2 else 0, 0
    while True:
        active = [s for s in sessions if not s.finished]
        if not active:
            return refilled
        awake = [s for s in active if s.resume_at is None or s.resume_at <= clock]
        if not awake:  # everyone is on a fatigue break: skip to the first one's end
            clock = min(s.resume_at for s in active)
            continue
        for session in awake:
            refilled += _ask(project=project, session=session, clock=clock, refill=refill)
        for session in awake:
            if session.lease is None:
                continue
            lease, session.lease = session.lease, None
            _answer(project=project, user=session.user, observer=session.observer, lease=lease,
                    clock=clock + timedelta(seconds=1))
            session.report.added[lease.item.kind] += 1
            session.report.gold_added += lease.item.purpose == WorkItem.Purpose.GOLD
            session.done += not lease.is_repeat
            session.finished = session.done >= session.target
            since_refill += 1
        if since_refill >= PAIR_REFILL_CHECK_EVERY:
            since_refill = 0
            if pair_items_open_count(project) < project.pair_batch_size / 2:
                refilled += refill()
        clock += timedelta(seconds=ROUND_SECONDS)


def _ask(*, project: Project, session: _Session, clock: datetime, refill) -> int:
    """Lease the session's next item into `session.lease` (or finish it, or pause it); returns pairs refilled.

    An attentive observer sticks to one task kind, skipping items of others (the queue serves the kind answered
    last, and a hidden gold item of another kind would move them there); after MAX_KIND_SKIPS skips in a row
    (their kind has run dry for them) they take what comes and stay with that kind. A skimming one (random,
    reversed) takes any kind but skips what looks like effort (see looks_hard).
    """
    refilled = 0
    limit = MAX_START_SKIPS if session.done == 0 else MAX_KIND_SKIPS
    for skips in range(limit + 1):
        try:
            assignment = assignment_next(project=project, annotator=session.user, now=clock, rng=session.queue_rng)
        except Paused as pause:
            session.resume_at = pause.until + timedelta(seconds=1)
            return refilled
        except NoWork as exc:
            added = refill()
            if added:
                refilled += added
                continue
            session.report.stopped, session.finished = exc.message, True
            return refilled
        lease = assignment.lease
        item = lease.item
        wanted = not looks_hard(item) if session.observer.skims else item.kind == session.kind
        if wanted or skips == limit:
            session.lease, session.kind, session.resume_at = lease, item.kind, None
            return refilled
        lease_release(lease_id=lease.pk, annotator=session.user, now=clock)
        if session.kind == TaskKind.PAIR and item.kind != TaskKind.PAIR and skips == 0:
            refilled += refill()  # the pairs open to this observer may have run out: let the selector add some
    return refilled


def _answer(*, project: Project, user, observer: SimulatedObserver, lease, clock: datetime, attentive: bool = False) -> None:
    """Answer one leased item at `clock`, and write the paragraph of a questionnaire."""
    item = lease.item
    answer = observer.answer(item=item, swap=lease.swap, project=project, attentive=attentive)
    seconds = SECONDS_PER_ITEM.get(item.kind, 10) * math.exp(float(observer.rng.normal(0.0, 0.4)))
    if observer.behaviour != "honest" and not attentive:
        seconds /= 3  # careless people are quick
    result = judgement_submit(
        lease_id=lease.pk, annotator=user, client_id=uuid.uuid4(), answer=answer, duration_ms=int(seconds * 1000), now=clock,
    )
    revision = revision_for_judgement(judgement=result.judgement)
    if revision is not None:
        distortion, severity = ground_truth(item.image)
        text = (pathway_description(distortion=distortion, severity=int(round(severity)))
                if observer.behaviour == "honest" or attentive else "The image has some distortion.")
        revision_save(revision_id=revision.pk, annotator=user, final_text=text, time_spent_ms=20_000, draft_shown=False)


def _training_pass(*, project: Project, session: _Session, clock: datetime) -> datetime:
    """Take the training round (attentively, whatever the observer does afterwards) until passed."""
    user = session.user
    for _attempt in range(MAX_TRAINING_ATTEMPTS):
        status = training_status(project=project, annotator=user)
        if not status.required or status.passed:
            return clock
        if status.attempt and status.answered >= status.total:
            training_restart(project=project, annotator=user)
        session.report.training_attempts += 1
        while True:
            try:
                assignment = training_next(project=project, annotator=user, now=clock, rng=session.queue_rng)
            except NoWork:
                break
            clock += timedelta(seconds=20)
            _answer(project=project, user=user, observer=session.observer, lease=assignment.lease, clock=clock, attentive=True)
    return clock
