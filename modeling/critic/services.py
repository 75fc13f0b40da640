"""Writes about a project's critic versions: asking for a run, retrying, cancelling, promoting, rolling back.

The runs themselves (train, evaluate, score, generate) are in :mod:`modeling.critic.runs`, which the
`gpu`-queue tasks call. Nothing here imports torch, so the web process stays light.

Life of a version: queued -> training -> evaluating -> ready; ready (or retired) -> active -> retired.
A run that dies or is cancelled ends failed or cancelled and never changes which version is active.
"""
from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from annotation.models import Image, Project
from config.runs import run_cancel_stale
from modeling.critic.data import CriticDataSettings, judgement_last_id, judgements_usable
from modeling.critic.models import CriticText, CriticVersion
from modeling.critic.selectors import critic_version_regressions
from modeling.critic.storage import base_is_tiny, critic_base_dir
from modeling.critic.tasks import critic_generate, critic_retrain, critic_score_pool
from modeling.selection.tasks import selection_prior_refresh

logger = logging.getLogger(__name__)



class CriticStateError(ValueError):
    """The version cannot do that in its current state (the message says why, for people)."""


class PromoteNeedsConfirmation(CriticStateError):
    """The version is worse than the active one on a held-out metric: promoting it needs `confirm`.

    A refusal with a stable `code` and HTTP `status` (config/api.py answers it as such); `errors` lists the metrics.
    """

    code = "confirmation_required"
    status = 409

    def __init__(self, *, version: CriticVersion, active: CriticVersion, worse: list[str]):
        self.version, self.active, self.errors = version, active, worse
        self.message = (
            f"v{version.number} is worse than the active v{active.number} on held-out data: {'; '.join(worse)}. "
            f"Promote it anyway only if you mean to (confirm)."
        )
        super().__init__(self.message)


# ---------------------------------------------------------------------------------------- settings


def training_settings_default(*, tiny: bool) -> dict:
    """The settings a new version trains with (plain JSON; the worker builds the dataclasses from it).

    A real checkpoint keeps the papers' recipe: LoRA r=16, alpha=32, dropout 0.1 on the language model's
    attention, projector trained, vision tower frozen (paper 000, Table 8), one epoch through paper 000's
    curriculum in order. A tiny random model cannot learn that way (issue 8, "CPU demo"), so it trains
    every weight, reads early vision features, learns from a scoring-heavy mixture with the level token
    weighted up, and first warms up its vision tower on the scoring labels (`vision_warmup_steps`,
    modeling.critic.core.training.vision_warmup; docs/benchmarks.md, "Critic on the demo").
    A real checkpoint writes a checkpoint every 200 steps (a killed run resumes) and decodes images in 4 DataLoader
    workers; the tiny one trains in this process with neither, as fast as the demo's Retrain needs.
    """
    if tiny:
        adapter = {"r": 16, "alpha": 32, "dropout": 0.0, "projections": ["q_proj", "k_proj", "v_proj", "o_proj"],
                   "train_projector": True, "train_vision": True, "full_finetune": True, "vision_feature_layer": -2, "seed": 0}
        optimisation = {"epochs": 1, "max_steps": 300, "batch_size": 8, "learning_rate": 1e-3, "weight_decay": 0.0,
                        "warmup_fraction": 0.05, "schedule": "cosine", "min_lr_ratio": 0.1, "max_grad_norm": 1.0,
                        "shuffle": True, "seed": 0, "scored_token_weight": 20.0, "vision_warmup_steps": 1500,
                        "gradient_accumulation_steps": 1, "mixed_precision": "auto", "checkpoint_every": 0, "num_workers": 0}
        data = CriticDataSettings(curriculum=False, mix={"scoring": 0.7, "relativity": 0.3})
    else:
        adapter = {"r": 16, "alpha": 32, "dropout": 0.1, "projections": ["q_proj", "k_proj", "v_proj", "o_proj"],
                   "train_projector": True, "train_vision": False, "full_finetune": False, "vision_feature_layer": None, "seed": 0}
        optimisation = {"epochs": 1, "max_steps": None, "batch_size": 4, "learning_rate": 2e-4, "weight_decay": 0.0,
                        "warmup_fraction": 0.05, "schedule": "cosine", "min_lr_ratio": 0.1, "max_grad_norm": 1.0,
                        "shuffle": False, "seed": 0, "scored_token_weight": 1.0, "vision_warmup_steps": 0,  # not shuffled: the curriculum's order is kept
                        "gradient_accumulation_steps": 1, "mixed_precision": "auto", "checkpoint_every": 200, "num_workers": 4}
        data = CriticDataSettings(curriculum=True)
    return {"adapter": adapter, "optimisation": optimisation, "data": data.to_dict(), "scoring_batch_size": 16,
            "gradient_checkpointing": not tiny, "evaluate_base": True}


def _merged(base: dict, overrides: dict | None) -> dict:
    out = {key: (dict(value) if isinstance(value, dict) else value) for key, value in base.items()}
    for key, value in (overrides or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key].update(value)
        else:
            out[key] = value
    return out


# ------------------------------------------------------------------------------------ asking for runs


def critic_version_request(
    *, project: Project, user=None, trigger: str = CriticVersion.Trigger.MANUAL, overrides: dict | None = None,
    parent: CriticVersion | None = None, training_settings: dict | None = None,
) -> CriticVersion:
    """Queue a new version of the project's critic and enqueue its training once the transaction commits.

    While one is queued, training or evaluating, that one is returned and nothing new is made (one run
    per project at a time: a second would train on nearly the same data). The project row is locked so
    two requests at once cannot both create one. `overrides` updates the default settings per section
    (`{"optimisation": {"max_steps": 5}}`); `training_settings` replaces them whole (a retry).
    """
    with transaction.atomic():
        Project.objects.select_for_update().filter(pk=project.pk).first()
        critic_versions_stale_fail(project=project)
        pending = CriticVersion.objects.filter(project=project, status__in=CriticVersion.PENDING).order_by("-number").first()
        if pending is not None:
            return pending
        base_dir = critic_base_dir()
        tiny = base_is_tiny(base_dir)
        chosen = training_settings if training_settings is not None else _merged(training_settings_default(tiny=tiny), overrides)
        CriticDataSettings(**chosen["data"])  # a bad data section fails here, where the caller can see it
        number = (CriticVersion.objects.filter(project=project).aggregate(top=Max("number"))["top"] or 0) + 1
        if parent is None:
            parent = CriticVersion.objects.filter(project=project, status=CriticVersion.Status.ACTIVE).first()
        version = CriticVersion.objects.create(
            project=project, number=number, parent=parent, trigger=trigger, created_by=user if getattr(user, "pk", None) else None,
            base_model_dir=str(base_dir), is_tiny=tiny, training_settings=chosen,
            last_judgement_id=judgement_last_id(project=project),
        )
        version.artifact_dir = f"{project.pk}/{version.pk}"
        version.save(update_fields=["artifact_dir"])
        transaction.on_commit(lambda: critic_retrain.delay(version.pk))
    logger.info("Critic v%s of project %s queued (%s)", version.number, project.pk, trigger)
    return version


def critic_version_request_recipe(
    *, project: Project, user=None, recipe: str, options: dict | None = None, answer_text: str = "template",
    trigger: str = CriticVersion.Trigger.MANUAL,
) -> CriticVersion:
    """Queue a version trained with one of the papers' recipes (modeling/critic/recipes.py) or a composed one.

    CriticStateError for an unknown recipe or options the data settings refuse, so the Retrain form shows why.
    """
    from modeling.critic.data_sources import GeneralDataUnusable, general_data_path
    from modeling.critic.recipes import RecipeError, recipe_overrides

    defaults = training_settings_default(tiny=base_is_tiny(critic_base_dir()))
    try:
        overrides = recipe_overrides(recipe, defaults=defaults, options=options)
        if answer_text != "template":
            overrides.setdefault("data", {})["answer_text"] = answer_text
        data = CriticDataSettings(**_merged(defaults, overrides)["data"])
        if data.general_data:
            general_data_path(data.general_data, project=project)  # an upload of the project, or a .json file in the administrator's folder
    except (RecipeError, GeneralDataUnusable, TypeError, ValueError) as error:
        raise CriticStateError(str(error)) from error
    return critic_version_request(project=project, user=user, trigger=trigger, overrides=overrides)


def critic_version_retry(*, version: CriticVersion, user=None) -> CriticVersion:
    """A fresh version with the same settings as a failed or cancelled one; it starts from nothing."""
    if version.status not in (CriticVersion.Status.FAILED, CriticVersion.Status.CANCELLED):
        raise CriticStateError(f"Only a failed or cancelled version can be retried; v{version.number} is {version.status}.")
    return critic_version_request(
        project=version.project, user=user, trigger=CriticVersion.Trigger.RETRY, parent=version,
        training_settings=version.training_settings or None,
    )


def critic_retrain_if_due(*, project: Project) -> CriticVersion | None:
    """Queue a version when LOUPE_CRITIC_RETRAIN_EVERY new usable judgements arrived since the last one.

    "Since the last one" is by judgement id: every version records the highest id it considered, failed
    ones included (so data that breaks training does not start a failing run at every submission). Nothing
    is queued while a version is pending. 0 or less in the setting turns this off.
    """
    every = settings.LOUPE_CRITIC_RETRAIN_EVERY
    if every <= 0:
        return None
    versions = CriticVersion.objects.filter(project=project)
    if versions.filter(status__in=CriticVersion.PENDING).exists():
        return None
    baseline = versions.aggregate(last=Max("last_judgement_id"))["last"] or 0
    if judgements_usable(project=project).filter(id__gt=baseline).count() < every:
        return None
    return critic_version_request(project=project, trigger=CriticVersion.Trigger.JUDGEMENTS)


def critic_version_cancel(*, version: CriticVersion) -> CriticVersion:
    """Stop a run: a queued one is cancelled now, a running one at its next step (nothing is saved)."""
    with transaction.atomic():
        version = CriticVersion.objects.select_for_update().get(pk=version.pk)
        if version.status == CriticVersion.Status.QUEUED:
            version.status, version.cancel_requested, version.finished_at = CriticVersion.Status.CANCELLED, True, timezone.now()
            version.save(update_fields=["status", "cancel_requested", "finished_at", "updated_at"])
        elif version.status in (CriticVersion.Status.TRAINING, CriticVersion.Status.EVALUATING):
            version.cancel_requested = True
            run_cancel_stale(version)  # a run that lost its worker ends now
            version.save(update_fields=["cancel_requested", "updated_at"])
        else:
            raise CriticStateError(f"v{version.number} is {version.get_status_display().lower()}: there is no run to cancel.")
    return version


# ----------------------------------------------------------------------------- promotion and rollback


def critic_version_promote(*, version: CriticVersion, confirm: bool = False) -> CriticVersion:
    """Make `version` the project's active critic, atomically; the one active before is retired.

    Only a finished and evaluated version (ready, or retired after being active) can be promoted. One that is
    worse than the active version on a held-out metric with enough images (selectors.critic_version_regressions)
    is promoted only with `confirm`; otherwise PromoteNeedsConfirmation says where it is worse. All
    the project's versions are locked first, so two promotions at once end with exactly one active
    (the database's one-active constraint backs this up). Once committed, the pool is scored with it if
    it has not been yet, which then refreshes the pair selector's prior; otherwise the refresh is asked
    for at once.
    """
    with transaction.atomic():
        locked = {v.pk: v for v in CriticVersion.objects.select_for_update().filter(project_id=version.project_id).order_by("pk")}
        version = locked[version.pk]
        if version.status == CriticVersion.Status.ACTIVE:
            return version
        if not version.can_be_activated:
            raise CriticStateError(
                f"v{version.number} is {version.get_status_display().lower()}: only a finished and evaluated version can become active."
            )
        active = next((v for v in locked.values() if v.status == CriticVersion.Status.ACTIVE), None)
        worse = critic_version_regressions(version=version, than=active) if active is not None and not confirm else []
        if worse:
            raise PromoteNeedsConfirmation(version=version, active=active, worse=worse)
        for other in locked.values():
            if other.status == CriticVersion.Status.ACTIVE:
                other.status = CriticVersion.Status.RETIRED
                other.save(update_fields=["status", "updated_at"])
        version.status, version.activated_at = CriticVersion.Status.ACTIVE, timezone.now()
        version.save(update_fields=["status", "activated_at", "updated_at"])
        _after_activation(version)
    logger.info("Critic v%s of project %s is active", version.number, version.project_id)
    return version


def critic_version_rollback(*, project: Project) -> CriticVersion:
    """Activate the version that was active before the current one (the current one is retired)."""
    with transaction.atomic():
        locked = list(CriticVersion.objects.select_for_update().filter(project=project).order_by("pk"))
        current = next((v for v in locked if v.status == CriticVersion.Status.ACTIVE), None)
        if current is None:
            raise CriticStateError("No version is active, so there is nothing to roll back.")
        earlier = sorted(
            (v for v in locked if v.pk != current.pk and v.activated_at is not None and v.can_be_activated
             and v.activated_at <= current.activated_at),
            key=lambda v: v.activated_at, reverse=True,
        )
        if not earlier:
            raise CriticStateError(f"v{current.number} is the first version that was active: there is none to roll back to.")
        previous = earlier[0]
        current.status = CriticVersion.Status.RETIRED
        current.save(update_fields=["status", "updated_at"])
        previous.status = CriticVersion.Status.ACTIVE
        previous.save(update_fields=["status", "updated_at"])  # activated_at kept: rolling back twice walks further back
        _after_activation(previous)
    logger.info("Critic of project %s rolled back from v%s to v%s", project.pk, current.number, previous.number)
    return previous


def _after_activation(version: CriticVersion) -> None:
    if version.score_status == CriticVersion.ScoreStatus.DONE and version.scored_count >= Image.objects.filter(project_id=version.project_id).count():
        selection_prior_refresh(project_id=version.project_id)
    elif version.score_status not in (CriticVersion.ScoreStatus.QUEUED, CriticVersion.ScoreStatus.RUNNING):
        critic_pool_score_request(version=version)


# ----------------------------------------------------------------------------------- scoring, texts


def critic_pool_score_request(*, version: CriticVersion) -> CriticVersion:
    """Queue scoring of the project's whole pool with this version (a finished one only)."""
    ok = (CriticVersion.Status.READY, CriticVersion.Status.ACTIVE, CriticVersion.Status.RETIRED)
    if version.status not in ok or not version.artifact_sha256:
        raise CriticStateError(f"v{version.number} is {version.get_status_display().lower()}: only a trained version can score.")
    CriticVersion.objects.filter(pk=version.pk).update(score_status=CriticVersion.ScoreStatus.QUEUED, score_error="")
    version.score_status = CriticVersion.ScoreStatus.QUEUED
    transaction.on_commit(lambda: critic_score_pool.delay(version.pk))
    return version


def critic_texts_request(*, version: CriticVersion, image_ids: list[int]) -> None:
    """Queue free-text quality descriptions of `image_ids` by this version (for studies)."""
    if version.status not in (CriticVersion.Status.READY, CriticVersion.Status.ACTIVE, CriticVersion.Status.RETIRED):
        raise CriticStateError(f"v{version.number} has no trained adapter to write with.")
    ids = [int(i) for i in image_ids]
    transaction.on_commit(lambda: critic_generate.delay(version.pk, ids))


#: At most this many images per "Describe images" request (generation is slow on a CPU worker).
MAX_TEXTS_PER_REQUEST = 50


def critic_texts_ask(*, version: CriticVersion, n) -> list[int]:
    """Queue descriptions of `n` images this version has not described yet, held-out images first; returns their ids.

    Raises CriticStateError for an `n` that is not a whole number in 1..MAX_TEXTS_PER_REQUEST, for a version
    without a trained adapter, and when every image has a description from it already.
    """
    try:
        count = int(str(n).strip())
    except (TypeError, ValueError):
        raise CriticStateError(f"Ask for a whole number of images, 1 to {MAX_TEXTS_PER_REQUEST}.") from None
    if not 1 <= count <= MAX_TEXTS_PER_REQUEST:
        raise CriticStateError(f"Ask for 1 to {MAX_TEXTS_PER_REQUEST} images at a time, not {count}.")
    described = set(CriticText.objects.filter(version=version, task="description").values_list("image_id", flat=True))
    heldout = [int(i) for i in version.heldout_image_ids or []]
    rest = Image.objects.filter(project_id=version.project_id).exclude(id__in=heldout).order_by("id").values_list("id", flat=True)
    ids = [i for i in [*sorted(heldout), *rest] if i not in described][:count]
    if not ids:
        raise CriticStateError(f"v{version.number} has described every image of the project already.")
    critic_texts_request(version=version, image_ids=ids)
    return ids


# --------------------------------------------------------------------------------------- liveness


def critic_versions_stale_fail(*, project: Project) -> int:
    """Mark failed the project's training or evaluating versions whose worker stopped answering (lost for good)."""
    from config.runs import runs_stale_fail

    return runs_stale_fail(CriticVersion, queryset=CriticVersion.objects.filter(project=project))
