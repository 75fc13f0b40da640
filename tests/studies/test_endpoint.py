"""Endpoint systems: answers from an OpenAI-compatible vision server (the loopback fake), failures shown, resumable."""
import time

import pytest

from studies.models import Answer, System, Trial
from studies.services.answers import system_answers_generate_endpoint
from studies.services.setup import study_create, system_add_endpoint, system_import, system_retry
from tests.llm_server import Malformed, Ok, Status
from tests.studies.builders import answers_jsonl, images_add


def _study(project, researcher, annotator, n=3):
    images = images_add(project, n)
    return study_create(project=project, name="e", created_by=researcher, annotators=[annotator], image_ids=[i.pk for i in images],
                        instruction="Rate the sharpness, please.")


@pytest.mark.django_db
def test_endpoint_answers_with_a_failure_then_retry_asks_only_the_missing(llm_server, project, researcher, annotator_member):
    """Each item is one request with the image and instruction; a broken reply fails that item; Retry asks for it alone."""
    study = _study(project, researcher, annotator_member)
    system_import(study=study, name="imported", data=answers_jsonl([i.image for i in study.items.all()], "imp"))
    system = system_add_endpoint(study=study, name="vision", base_url=llm_server.base_url, model="fake-vision-1")
    llm_server.script(Ok("Sharp and clean."), Malformed(), Ok("Slightly blurry."))
    system_answers_generate_endpoint(system.pk)
    system.refresh_from_db()
    assert system.status == System.Status.FAILED and system.answered_count == 2 and system.failed_count == 1
    assert "1 item failed" in system.error
    first = llm_server.chat_requests[0]
    assert first.body["model"] == "fake-vision-1"
    assert first.image_urls()[0].startswith("data:image/png;base64,")
    assert "Rate the sharpness, please." in str(first.messages)
    assert Trial.objects.filter(study=study).count() == 2  # only items both systems answered

    system_retry(system=system)
    llm_server.script(Ok("Noisy."))
    system_answers_generate_endpoint(system.pk)
    system.refresh_from_db()
    assert system.status == System.Status.READY and system.answered_count == 3 and system.error == ""
    assert len(llm_server.chat_requests) == 4  # 3 + the one retried
    assert sorted(Answer.objects.filter(system=system).values_list("text", flat=True)) == ["Noisy.", "Sharp and clean.", "Slightly blurry."]
    assert Trial.objects.filter(study=study).count() == 3


@pytest.mark.django_db
def test_a_refused_request_stops_the_run_with_the_reason(llm_server, project, researcher, annotator_member):
    """A 401 (bad key or model) is not retried item after item: the run stops and says why."""
    study = _study(project, researcher, annotator_member)
    system = system_add_endpoint(study=study, name="vision", base_url=llm_server.base_url, model="fake-vision-1")
    llm_server.script(Status(401, "Invalid API key"))
    system_answers_generate_endpoint(system.pk)
    system.refresh_from_db()
    assert system.status == System.Status.FAILED and "HTTP 401" in system.error and "Invalid API key" in system.error
    assert len(llm_server.chat_requests) == 1 and system.answered_count == 0


@pytest.mark.django_db
def test_a_missing_key_variable_fails_clearly(llm_server, project, researcher, annotator_member, monkeypatch, settings):
    """The key is read on the worker from the variable the credential registry names; unset, the run fails saying which."""
    settings.LOUPE_ENDPOINT_CREDENTIALS = f"study=LOUPE_TEST_STUDY_KEY@{llm_server.base_url.split('/')[2]}"
    monkeypatch.delenv("LOUPE_TEST_STUDY_KEY", raising=False)
    study = _study(project, researcher, annotator_member, n=1)
    system = system_add_endpoint(study=study, name="vision", base_url=llm_server.base_url, model="m", key_env="study")
    system_answers_generate_endpoint(system.pk)
    system.refresh_from_db()
    assert system.status == System.Status.FAILED and "LOUPE_TEST_STUDY_KEY is not set" in system.error
    assert llm_server.chat_requests == []
    monkeypatch.setenv("LOUPE_TEST_STUDY_KEY", "sk-from-env")
    system_retry(system=system)
    system_answers_generate_endpoint(system.pk)
    system.refresh_from_db()
    assert system.status == System.Status.READY
    assert llm_server.chat_requests[0].headers["authorization"] == "Bearer sk-from-env"
    assert "sk-from-env" not in str(System.objects.filter(pk=system.pk).values().get())


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_the_default_worker_generates_endpoint_answers(celery_worker, worker_media_root, llm_server, project, researcher, annotator_member):
    """Adding an endpoint system queues it on `default`; the real worker asks the loopback server and the system becomes ready."""
    study = _study(project, researcher, annotator_member, n=2)
    llm_server.default = Ok("A crisp, well-exposed photo.")
    system = system_add_endpoint(study=study, name="vision", base_url=llm_server.base_url, model="fake-vision-1")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        system.refresh_from_db()
        if system.status in (System.Status.READY, System.Status.FAILED):
            break
        time.sleep(0.2)
    assert system.status == System.Status.READY, system.error + "\n" + celery_worker.log_tail()
    assert system.answered_count == 2 and len(llm_server.chat_requests) == 2
    assert "studies.system_generate_endpoint" in celery_worker.log_path.read_text()
