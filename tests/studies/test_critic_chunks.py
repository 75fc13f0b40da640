"""A critic system's answers in chunks (config.chunks, studies.services.answers), in this process on the real database.

The chord across `gpu` workers is the same machinery as pool scoring (tests/integration/test_scoring_workers.py);
here, the bookkeeping that makes it safe: chunking leaves the answers as one pass gives them, a redelivered chunk
counts once, and a failing chunk is retried alone.
"""
from pathlib import Path

import pytest
from django.urls import reverse

from studies.api import SystemSerializer
from studies.models import Answer, System
from studies.services import answers
from studies.services.setup import study_create, system_add_critic
from tests.modeling.critic.scorable import scorable_version
from tests.work_data import project_images

pytestmark = pytest.mark.django_db


@pytest.fixture
def critic_study(settings, tmp_path, project, researcher):
    """A study of five images and a scorable (tiny, untrained-adapter) critic version of its project."""
    settings.LOUPE_CRITIC_BASE_DIR = ""
    settings.LOUPE_CRITIC_DIR = tmp_path / "critic"
    images = project_images(project, 5)
    version = scorable_version(project)
    study = study_create(project=project, name="chunks", created_by=researcher, annotators=[],
                         image_ids=[image.pk for image in images], instruction="How good is this image?")
    return study, version, images


def _texts(system) -> dict[int, str]:
    return dict(Answer.objects.filter(system=system).values_list("item__image_id", "text"))


def test_chunked_answers_are_the_answers_of_one_pass(settings, critic_study):
    study, version, images = critic_study
    settings.LOUPE_CRITIC_ANSWER_CHUNK = 100
    whole = system_add_critic(study=study, name="one pass", critic_version=version)
    answers.system_answers_generate_critic(whole.pk)
    settings.LOUPE_CRITIC_ANSWER_CHUNK = 2
    chunked = system_add_critic(study=study, name="chunked", critic_version=version)
    answers.system_answers_generate_critic(chunked.pk)

    whole.refresh_from_db()
    chunked.refresh_from_db()
    assert whole.status == chunked.status == System.Status.READY, (whole.error, chunked.error)
    assert (whole.chunks_total, chunked.chunks_total) == (1, 3) and chunked.chunks["done"] == [0, 1, 2]
    assert chunked.chunks["attempts"] == {"0": 1, "1": 1, "2": 1} and chunked.answered_count == 5
    assert _texts(chunked) == _texts(whole) and len(_texts(whole)) == 5
    shown = SystemSerializer(chunked).data  # what the API shows of the progress
    assert (shown["chunks_done"], shown["chunks_total"], shown["answered_count"]) == (3, 3, 5)


def test_a_redelivered_chunk_counts_once_and_an_old_runs_chunk_changes_nothing(settings, client, researcher, critic_study):
    study, version, _ = critic_study
    settings.LOUPE_CRITIC_ANSWER_CHUNK = 2
    system = system_add_critic(study=study, name="c", critic_version=version)
    run, chunks = answers.critic_answers_plan(system.pk)
    assert [len(c) for c in chunks] == [2, 2, 1]
    assert answers.critic_answers_chunk(system.pk, run, 0, chunks[0], worker="w1") == 2
    assert answers.critic_answers_chunk(system.pk, run, 0, chunks[0], worker="w2") == 0  # the same message again
    system.refresh_from_db()
    assert system.chunks["done"] == [0] and system.chunks["attempts"] == {"0": 2} and system.chunks["workers"] == {"0": "w2"}
    assert Answer.objects.filter(system=system).count() == system.answered_count == 2
    assert system.status == System.Status.RUNNING
    client.force_login(researcher)  # the study page shows the chunks while the system generates
    assert "1 of 3 chunks" in client.get(reverse("studies:study_detail", args=[study.pk])).content.decode()

    answers.critic_answers_finish(system.pk, run)  # the callback with chunks 1 and 2 missing: failed, with the reason
    system.refresh_from_db()
    assert system.status == System.Status.FAILED and "3 items still without an answer" in system.error

    System.objects.filter(pk=system.pk).update(status=System.Status.QUEUED)  # Retry
    new_run, new_chunks = answers.critic_answers_plan(system.pk)
    assert [len(c) for c in new_chunks] == [2, 1]  # only the items still missing
    assert answers.critic_answers_chunk(system.pk, run, 1, chunks[1], worker="w1") == 0  # the old run's chunk
    system.refresh_from_db()
    assert system.chunks["run"] == new_run and system.chunks["done"] == [] and system.answered_count == 2


def test_a_failing_chunk_is_retried_alone(settings, critic_study):
    study, version, images = critic_study
    settings.LOUPE_CRITIC_ANSWER_CHUNK = 2
    system = system_add_critic(study=study, name="c", critic_version=version)
    run, chunks = answers.critic_answers_plan(system.pk)
    broken = Path(images[2].file.path)  # the first image of chunk 1
    hidden = broken.with_name(broken.name + ".away")
    broken.rename(hidden)
    for index, ids in enumerate(chunks):
        try:
            answers.critic_answers_chunk(system.pk, run, index, ids, worker="w")
        except FileNotFoundError as error:
            assert index == 1
            answers.critic_answers_chunk_failed(system.pk, run, index, error, final=False)
    system.refresh_from_db()
    assert system.status == System.Status.RUNNING and system.chunks["done"] == [0, 2]
    assert list(system.chunks["failures"]) == ["1"] and system.chunks["failures"]["1"][0].startswith("FileNotFoundError")

    hidden.rename(broken)  # the retry of chunk 1 alone
    assert answers.critic_answers_chunk(system.pk, run, 1, chunks[1], worker="w") == 2
    answers.critic_answers_finish(system.pk, run)
    system.refresh_from_db()
    assert system.status == System.Status.READY and system.answered_count == 5
    assert system.chunks["attempts"] == {"0": 1, "1": 2, "2": 1}


def test_a_chunk_failing_on_its_last_attempt_fails_the_system_with_its_error(settings, critic_study):
    study, version, _ = critic_study
    settings.LOUPE_CRITIC_ANSWER_CHUNK = 2
    system = system_add_critic(study=study, name="c", critic_version=version)
    run, _ = answers.critic_answers_plan(system.pk)
    answers.critic_answers_chunk_failed(system.pk, run, 2, OSError("disk gone"), final=False)
    answers.critic_answers_chunk_failed(system.pk, run, 2, OSError("still gone"), final=True)
    system.refresh_from_db()
    assert system.status == System.Status.FAILED
    assert system.error == "Chunk 3 of 3 failed after 2 attempts: OSError: still gone"


def test_a_version_without_a_trained_adapter_fails_the_system_before_any_chunk_is_sent(critic_study):
    study, version, _ = critic_study
    system = system_add_critic(study=study, name="untrained", critic_version=version)
    type(version).objects.filter(pk=version.pk).update(artifact_sha256="")  # e.g. a version that never finished training

    assert answers.critic_answers_plan(system.pk) is None
    system.refresh_from_db()
    assert system.status == System.Status.FAILED and "no trained adapter" in system.error
    assert not (system.chunks or {}).get("run") and not Answer.objects.filter(system=system).exists()
