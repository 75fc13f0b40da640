"""A critic-version system: a version trained on the real worker writes the study's answers on the `gpu` queue."""
import time

import pytest

from modeling.critic import services as critic_services
from modeling.critic.models import CriticVersion
from studies.models import Answer, System, Trial
from studies.services import StudyError
from studies.services.setup import study_create, system_add_critic, system_import
from tests.integration.test_critic_worker import QUICK, _labelled, _wait
from tests.studies.builders import answers_jsonl

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_a_trained_version_answers_the_study_on_the_worker(celery_worker, worker_media_root, project, researcher, annotator_member):
    """Train a tiny version, add it to a study beside imported answers: the gpu task writes one answer per item and trials follow."""
    images = _labelled(project)
    version = _wait(critic_services.critic_version_request(project=project, overrides=QUICK), lambda v: not v.is_pending, worker=celery_worker)
    assert version.status == CriticVersion.Status.READY, version.error
    study = study_create(project=project, name="critic study", created_by=researcher, annotators=[annotator_member],
                         image_ids=[image.pk for image in images[:3]], instruction="How good is this image?")
    system_import(study=study, name="imported", data=answers_jsonl(images[:3], "imp"))
    system = system_add_critic(study=study, name="tiny critic", critic_version=version)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        system.refresh_from_db()
        if system.status in (System.Status.READY, System.Status.FAILED):
            break
        time.sleep(0.3)
    assert system.status == System.Status.READY, system.error + "\n" + celery_worker.log_tail()
    assert Answer.objects.filter(system=system).count() == 3 and system.answered_count == 3
    assert Trial.objects.filter(study=study).count() == 3
    assert "studies.system_generate_critic" in celery_worker.log_path.read_text()


def test_an_untrained_version_is_refused(project, researcher, annotator_member):
    """A queued (untrained) version cannot be added to a study."""
    images = _labelled(project)
    version = CriticVersion.objects.create(project=project, number=9, base_model_dir="unused")
    study = study_create(project=project, name="s", created_by=researcher, annotators=[], image_ids=[images[0].pk])
    with pytest.raises(StudyError, match="not trained"):
        system_add_critic(study=study, name="c", critic_version=version)
