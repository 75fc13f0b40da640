"""Blinding: nothing an annotator can fetch during a study names, numbers or describes a system."""
import json
import re
import uuid

import pytest
from django.urls import reverse

from modeling.critic.models import CriticVersion
from studies.models import Answer, System
from studies.services.setup import study_create
from studies.services.trials import study_trials_generate
from tests.studies.builders import images_add

pytestmark = pytest.mark.django_db

SYSTEM_IDS = (900001, 900002, 900003)


@pytest.fixture
def blind_study(project, researcher, annotator_member):
    """Three systems, one of each kind, with distinctive ids, names, models, URLs and key variable names."""
    images = images_add(project, 2)
    study = study_create(project=project, name="Critic v7 against GPT", created_by=researcher, annotators=[annotator_member],
                         image_ids=[i.pk for i in images], ask_criteria=True)
    version = CriticVersion.objects.create(project=project, number=7, base_model_dir="/models/secret-base-dir", artifact_sha256="f" * 64,
                                           status=CriticVersion.Status.READY)
    systems = [
        System.objects.create(pk=SYSTEM_IDS[0], study=study, name="zephyr-critic-sysname", kind=System.Kind.CRITIC, critic_version=version,
                              status=System.Status.READY),
        System.objects.create(pk=SYSTEM_IDS[1], study=study, name="quokka-endpoint-sysname", kind=System.Kind.ENDPOINT,
                              endpoint_base_url="http://127.0.0.1:5999/v1", endpoint_model="walrus-vision-model",
                              endpoint_key_env="NARWHAL_KEY_VAR", status=System.Status.READY),
        System.objects.create(pk=SYSTEM_IDS[2], study=study, name="ibex-imported-sysname", kind=System.Kind.IMPORTED, status=System.Status.READY),
    ]
    for system in systems:
        Answer.objects.bulk_create([Answer(system=system, item=item, text=f"The image looks {k} fine.") for k, item in enumerate(study.items.all())])
    study_trials_generate(study=study)
    return study, systems


def _forbidden(systems) -> list[str]:
    words = []
    for system in systems:
        words += [system.name, str(system.pk), system.get_kind_display()]
        words += [w for w in (system.endpoint_model, system.endpoint_base_url, system.endpoint_key_env) if w]
    words += ["secret-base-dir", "Critic v7", "sysname", "critic_version", "system_a", "system_b", "system_id", '"kind"', "left_is_a"]
    return words


def _check(response, forbidden, where):
    content = b"".join(response.streaming_content) if response.streaming else response.content
    text = content.decode(errors="replace") + json.dumps(dict(response.headers))
    leaks = [word for word in forbidden if word.lower() in text.lower()]
    assert not leaks, f"{where} leaks {leaks}"
    for url in re.findall(r'(?:href|src|action|hx-get|hx-post)="([^"]+)"', text):
        assert not any(str(pk) in url for pk in SYSTEM_IDS), (where, url)


def test_nothing_the_annotator_fetches_names_a_system(client, blind_study, annotator_member):
    """Every page, endpoint, redirect, error and image the annotator reaches in the study is free of system identity."""
    study, systems = blind_study
    forbidden = _forbidden(systems)
    client.force_login(annotator_member)
    pages = [reverse("home"), reverse("annotation:annotator_home"), reverse("studies:my_studies")]
    for url in pages:
        _check(client.get(url, follow=True), forbidden, url)
    vote_url = reverse("studies:vote", kwargs={"study_id": study.pk})
    seen_images = set()
    # Page path: vote by form (the redirect after a vote included) until the study is done, skipping one trial.
    for step in range(3):
        page = client.get(vote_url)
        _check(page, forbidden, f"vote page {step}")
        trial = page.context["trial"]
        seen_images.update(i for i in (trial.image_id, trial.reference_id) if i)
        data = {"token": trial.token, "choice": "left", "client_id": str(uuid.uuid4()), "left_main_issue": "on"}
        if step == 1:
            data["action"] = "skip"
        _check(client.post(vote_url, data, follow=True), forbidden, f"vote post {step}")
    # API path: next, vote, vote again (idempotent), a bad vote, then done.
    next_url = reverse("api:study_trial_next", kwargs={"study_id": study.pk})
    while True:
        response = client.post(next_url)
        _check(response, forbidden, "api next")
        if response.status_code == 404:
            assert response.json()["code"] == "no_trial"
            break
        body = response.json()
        payload = {"client_id": str(uuid.uuid4()), "choice": "same", "criteria_left": [True, False, True], "criteria_right": [True, True, True]}
        for _ in range(2):
            _check(client.post(body["vote_url"], payload, content_type="application/json"), forbidden, "api vote")
        _check(client.post(body["vote_url"], {"choice": "x"}, content_type="application/json"), forbidden, "api vote error")
    _check(client.get(vote_url), forbidden, "vote page when done")
    for image_id in seen_images:
        _check(client.get(reverse("annotation:image_file", kwargs={"image_id": image_id})), forbidden, "image file")
    # Researcher routes answer 403 without saying anything.
    for name in ("studies:study_detail", "studies:study_results", "api:study_detail", "api:study_results"):
        response = client.get(reverse(name, kwargs={"study_id": study.pk}))
        assert response.status_code == 403
        _check(response, forbidden, name)


def test_the_researcher_does_see_the_systems(client, blind_study, researcher):
    """The same names are on the researcher's study page, so the check above is not vacuous."""
    study, systems = blind_study
    client.force_login(researcher)
    body = client.get(reverse("studies:study_detail", kwargs={"study_id": study.pk})).content.decode()
    assert all(system.name in body for system in systems) and "walrus-vision-model" in body
