"""Setting a study up: create it, add systems of each kind (JSONL answers imported here), generate its trials."""
from __future__ import annotations

import json
import random

from django.db import IntegrityError, transaction

from annotation.models import Image, Membership, Project
from config.egress import EgressRefused, validate_endpoint
from modeling.critic.models import CriticVersion
from modeling.assist.core.client import LLMConfig
from studies.models import DEFAULT_INSTRUCTION, Answer, Study, StudyItem, System
from studies.services import StudyError
from studies.services.trials import study_trials_generate

#: An imported answers file larger than this is refused before it is read.
JSONL_MAX_BYTES = 20 * 1024 * 1024
ANSWER_MAX_CHARS = 20_000
USABLE_CRITIC_STATES = (CriticVersion.Status.READY, CriticVersion.Status.ACTIVE, CriticVersion.Status.RETIRED)


def study_create(
    *,
    project: Project,
    name: str,
    created_by,
    annotators,
    instruction: str = DEFAULT_INSTRUCTION,
    image_ids: list[int] | None = None,
    image_count: int = 0,
    votes_per_trial: int = 2,
    show_reference: bool = True,
    ask_criteria: bool = False,
    seed: int | None = None,
) -> Study:
    """A study over `image_ids` (or `image_count` random project images, 0: all), voted on by project annotators.

    Raises StudyError when an image is not the project's, an annotator is not one of its annotators, or nothing is left.
    """
    name, instruction = name.strip(), instruction.strip()
    if not name:
        raise StudyError("A study needs a name.")
    if not instruction:
        raise StudyError("A study needs an instruction.")
    if not 1 <= votes_per_trial <= 50:
        raise StudyError("Votes per trial must be between 1 and 50.")
    images = Image.objects.filter(project=project)
    if image_ids is not None:
        chosen = list(images.filter(pk__in=image_ids).values_list("pk", flat=True))
        if len(chosen) != len(set(image_ids)):
            raise StudyError("Some images are not in this project.")
    else:
        chosen = list(images.order_by("pk").values_list("pk", flat=True))
        if image_count and image_count < len(chosen):
            chosen = sorted(random.Random(seed).sample(chosen, image_count))
    if not chosen:
        raise StudyError("The study has no images: import some into the project first.")
    annotators = list(annotators)
    members = set(
        Membership.objects.filter(project=project, role=Membership.Role.ANNOTATOR, user__in=annotators).values_list("user_id", flat=True)
    )
    outsiders = [a.get_username() for a in annotators if a.pk not in members]
    if outsiders:
        raise StudyError(f"Not annotators of this project: {', '.join(sorted(outsiders))}.")
    with transaction.atomic():
        study = Study.objects.create(
            project=project, name=name, instruction=instruction, votes_per_trial=votes_per_trial,
            show_reference=show_reference, ask_criteria=ask_criteria, created_by=created_by,
        )
        StudyItem.objects.bulk_create([StudyItem(study=study, image_id=pk) for pk in chosen])
        study.annotators.set(annotators)
    return study


def study_annotators_set(*, study: Study, annotators) -> None:
    """Replace who votes in the study (project annotators only)."""
    annotators = list(annotators)
    members = set(
        Membership.objects.filter(project=study.project, role=Membership.Role.ANNOTATOR, user__in=annotators).values_list("user_id", flat=True)
    )
    if any(a.pk not in members for a in annotators):
        raise StudyError("Only annotators of the project can vote in its studies.")
    study.annotators.set(annotators)


def _system_create(*, study: Study, name: str, kind: str, **fields) -> System:
    name = name.strip()
    if not name:
        raise StudyError("A system needs a name (researchers see it; annotators never do).")
    try:
        with transaction.atomic():
            return System.objects.create(study=study, name=name, kind=kind, **fields)
    except IntegrityError:
        raise StudyError(f"This study already has a system named {name!r}.") from None


def _enqueue(system: System) -> None:
    """Queue the system's answer generation once the row is committed (critic: `gpu` queue; endpoint: `default`)."""
    from studies import tasks

    task = tasks.system_generate_critic if system.kind == System.Kind.CRITIC else tasks.system_generate_endpoint
    transaction.on_commit(lambda: task.delay(system.pk))


def system_add_critic(*, study: Study, name: str, critic_version: CriticVersion) -> System:
    """A trained critic version of the study's project; its answers are generated on the `gpu` queue."""
    if critic_version.project_id != study.project_id:
        raise StudyError("That critic version belongs to another project.")
    if critic_version.status not in USABLE_CRITIC_STATES or not critic_version.artifact_sha256:
        raise StudyError(f"Critic v{critic_version.number} is not trained (status: {critic_version.get_status_display()}).")
    with transaction.atomic():
        system = _system_create(study=study, name=name, kind=System.Kind.CRITIC, critic_version=critic_version)
        _enqueue(system)
    return system


def system_add_endpoint(*, study: Study, name: str, base_url: str, model: str, key_env: str = "") -> System:
    """An OpenAI-compatible vision endpoint the administrator's policy allows (config/egress.py).

    `key_env` names a registered credential (never a variable, never a key); the worker reads its value at run time.
    """
    key_env = key_env.strip()
    try:
        LLMConfig(base_url=base_url.strip(), model=model.strip())
    except ValueError as error:
        raise StudyError(f"Endpoint settings: {error}.") from None
    try:
        validate_endpoint(base_url.strip(), key_env)
    except EgressRefused as error:
        raise StudyError(str(error)) from None
    with transaction.atomic():
        system = _system_create(
            study=study, name=name, kind=System.Kind.ENDPOINT,
            endpoint_base_url=base_url.strip(), endpoint_model=model.strip(), endpoint_key_env=key_env,
        )
        _enqueue(system)
    return system


def system_retry(*, system: System) -> System:
    """Queue a failed (or stuck) generated system again; answers already written are kept and not redone."""
    if system.kind == System.Kind.IMPORTED:
        raise StudyError("Imported answers are not generated: import a corrected file as a new system.")
    updated = System.objects.filter(pk=system.pk).exclude(status=System.Status.READY).update(status=System.Status.QUEUED, error="")
    if not updated:
        raise StudyError("This system already has all its answers.")
    system.refresh_from_db()
    with transaction.atomic():
        _enqueue(system)
    return system


def _image_lookup(study: Study) -> tuple[dict[str, list[int]], dict[str, int]]:
    """Study items by the image's original file name (may repeat) and by content hash."""
    by_name: dict[str, list[int]] = {}
    by_hash: dict[str, int] = {}
    for item_id, name, digest in StudyItem.objects.filter(study=study).values_list("pk", "image__original_name", "image__content_hash"):
        by_name.setdefault(name, []).append(item_id)
        by_hash[digest.lower()] = item_id
    return by_name, by_hash


def _parse_answers(study: Study, data: bytes) -> tuple[dict[int, str], list[str]]:
    """Item id -> answer text from JSONL, and every problem as "line N: ..."."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return {}, ["The file is not UTF-8 text."]
    by_name, by_hash = _image_lookup(study)
    answers: dict[int, str] = {}
    first_line: dict[int, int] = {}
    errors: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as error:  # JSONDecodeError, and numbers past Python's digit limit
            errors.append(f"line {number}: not valid JSON ({getattr(error, 'msg', error)}).")
            continue
        if not isinstance(row, dict):
            errors.append(f"line {number}: expected a JSON object with an image and an answer.")
            continue
        answer = row.get("answer")
        if not isinstance(answer, str) or not answer.strip():
            errors.append(f'line {number}: "answer" must be a non-empty string.')
            continue
        if len(answer) > ANSWER_MAX_CHARS:
            errors.append(f"line {number}: the answer is longer than {ANSWER_MAX_CHARS} characters.")
            continue
        digest, name = row.get("content_hash"), row.get("image")
        if isinstance(digest, str) and digest.strip():
            item_id = by_hash.get(digest.strip().lower())
            if item_id is None:
                errors.append(f"line {number}: no image of this study has content hash {digest.strip()[:64]!r}.")
                continue
        elif isinstance(name, str) and name.strip():
            matches = by_name.get(name.strip(), [])
            if not matches:
                errors.append(f"line {number}: no image of this study is named {name.strip()[:200]!r}.")
                continue
            if len(matches) > 1:
                errors.append(f"line {number}: several images of this study are named {name.strip()[:200]!r}; give its content_hash.")
                continue
            item_id = matches[0]
        else:
            errors.append(f'line {number}: give the image as "image" (its file name) or "content_hash" (SHA-256).')
            continue
        if item_id in answers:
            errors.append(f"line {number}: a second answer for the same image as line {first_line[item_id]}.")
            continue
        answers[item_id] = answer.strip()
        first_line[item_id] = number
    if not answers and not errors:
        errors.append("The file has no answers.")
    return answers, errors


def system_import(*, study: Study, name: str, data: bytes) -> System:
    """Answers from a JSONL file, one object a line: {"image": file name | "content_hash": sha256, "answer": text}.

    All or nothing: any bad line refuses the whole file (StudyError with one message per line), nothing written.
    Images the file does not answer are left out of this system's trials.
    """
    if len(data) > JSONL_MAX_BYTES:
        raise StudyError(f"The file is larger than {JSONL_MAX_BYTES // (1024 * 1024)} MiB.")
    answers, errors = _parse_answers(study, data)
    if errors:
        shown = errors[:50] + ([f"... and {len(errors) - 50} more."] if len(errors) > 50 else [])
        raise StudyError(f"The answers file was not imported: {len(errors)} problem{'s' if len(errors) != 1 else ''}.", errors=shown)
    with transaction.atomic():
        system = _system_create(study=study, name=name, kind=System.Kind.IMPORTED, status=System.Status.READY, answered_count=len(answers))
        Answer.objects.bulk_create([Answer(system=system, item_id=item_id, text=text) for item_id, text in answers.items()])
        study_trials_generate(study=study)
    return system


def study_judge_request(*, study: Study, endpoint) -> None:
    """Check the GPT4-score judge's endpoint (studies/services/judge.py) under the policy and queue it on commit.

    Raises EgressRefused (config/egress.py) when the policy refuses the URL or the credential; nothing is queued.
    """
    from studies import tasks
    from studies.services.judge import judge_endpoint_check

    judge_endpoint_check(endpoint)
    transaction.on_commit(lambda: tasks.study_judge_answers.delay(study.pk, endpoint.base_url, endpoint.model, endpoint.key_env))
