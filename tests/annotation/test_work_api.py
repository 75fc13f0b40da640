"""The work API: assignments, judgements, release, training, judgements list, progress, settings, gold, pairs, schema."""
import random
import uuid
from types import SimpleNamespace

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotation import image_links
from annotation.models import Judgement, Lease, WorkItem
from annotation.services import queue
from tests.factories import ImageFactory, PairItemFactory, WorkItemFactory, annotators_add


def _token_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


@pytest.fixture
def work_project(project):
    project.task_kinds = ["rating", "pair"]
    project.overlap = 2
    project.gold_rate = 0.0
    project.training_required = False
    project.save()
    return project


@pytest.fixture
def worker(work_project):
    [user] = annotators_add(work_project, 1)
    return user


@pytest.fixture
def api(worker):
    return _token_client(worker)


@pytest.fixture
def researcher_api(researcher):
    return _token_client(researcher)


def _next(api, project):
    return api.post(reverse("api:assignment_next", kwargs={"project_id": project.pk}))


def _submit(api, lease_id, answer, client_id=None, duration_ms=1500):
    body = {"client_id": str(client_id or uuid.uuid4()), "answer": answer, "duration_ms": duration_ms}
    return api.post(reverse("api:judgement_submit", kwargs={"lease_id": lease_id}), body, format="json")


# ------------------------------------------------------------------------------------------ annotator


def _linked(url: str, user):
    """The image an assignment's opaque URL stands for, as the image view resolves it for `user`."""
    return image_links.image_link_resolve(signed=url.rstrip("/").rsplit("/", 1)[1], user=user).image


def test_assignment_gives_images_questionnaire_and_progress(api, work_project, worker):
    """POST assignments/next/ returns the lease, the image URL, the questionnaire and progress."""
    reference = ImageFactory(project=work_project)
    item = WorkItemFactory(project=work_project, image=ImageFactory(project=work_project, reference=reference))

    response = _next(api, work_project)

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["kind"] == "rating" and body["training"] is False
    assert body["images"]["left"]["url"].startswith("http://testserver/i/")  # opaque, see test_image_links.py
    assert body["images"]["right"] is None
    assert set(body["images"]["reference"]) == {"url", "width", "height"}
    assert _linked(body["images"]["left"]["url"], worker) == item.image
    assert _linked(body["images"]["reference"]["url"], worker) == reference
    assert [c["key"] for c in body["questionnaire"]["fields"][0]["choices"]] == [1, 2, 3, 4, 5]
    assert set(body["progress"]) == {"done", "remaining", "run_count", "warn_fatigue", "pause_after"}
    assert body["judgement_url"].endswith(reverse("api:judgement_submit", kwargs={"lease_id": body["lease_id"]}))


@pytest.fixture
def gold_first(monkeypatch, work_project):
    """The queue's draws: gold first (0.0 < gold rate), then work; pairs unswapped."""
    work_project.gold_rate = 0.1
    work_project.save()
    draws = iter([0.0] + [0.99] * 100)
    monkeypatch.setattr(queue, "random", SimpleNamespace(Random=lambda: SimpleNamespace(random=lambda: next(draws)), uniform=random.uniform))


def test_gold_and_work_assignments_look_the_same(api, work_project, worker, gold_first):
    """Nothing in a gold assignment (keys, values' shapes) tells it from a work item, and no ground truth leaks."""
    WorkItemFactory(project=work_project, purpose=WorkItem.Purpose.GOLD, gold_answer={"level": 5}, feedback="secret")
    WorkItemFactory(project=work_project)
    bodies = []
    for _ in range(2):
        body = _next(api, work_project).json()
        bodies.append(body)
        _submit(api, body["lease_id"], {"level": 3})
    purposes = set(Lease.objects.filter(annotator=worker).values_list("item__purpose", flat=True))
    assert purposes == {"gold", "work"}
    gold_body, work_body = bodies
    assert set(work_body) == set(gold_body)
    for body in bodies:
        text = str(body)
        assert "gold" not in text and "secret" not in text and "hidden_ground_truth" not in text and "item" not in text


def test_pathway_assignment_carries_the_mos_when_the_project_shows_it(api, researcher_api, work_project, worker, gold_first):
    """Switched on through the settings API, a pathway assignment carries its image's MOS, gold items' too; off, it is null."""
    work_project.task_kinds = ["pathway"]
    work_project.save()
    WorkItemFactory(project=work_project, kind="pathway", purpose=WorkItem.Purpose.GOLD, gold_answer={"level": 4},
                    image=ImageFactory(project=work_project, mos_normalised=72.0))
    WorkItemFactory(project=work_project, kind="pathway", image=ImageFactory(project=work_project, mos_normalised=35.5))
    settings_url = reverse("api:project_settings", kwargs={"project_id": work_project.pk})
    response = researcher_api.patch(settings_url, {"pathway_show_mos": True}, format="json")
    assert response.status_code == 200 and response.json()["pathway_show_mos"] is True
    answer = {"description": "Soft edges everywhere and some noise in the dark corners of the frame.", "conclusion": "Fair quality overall."}
    shown = {}
    for _ in range(2):
        body = _next(api, work_project).json()
        lease = Lease.objects.select_related("item__image").get(pk=body["lease_id"])
        shown[lease.item.purpose] = body["mos"]
        assert body["mos"] == lease.item.image.mos_normalised
        _submit(api, body["lease_id"], answer)
    assert shown["gold"] == 72.0 and shown["work"] is not None
    researcher_api.patch(settings_url, {"pathway_show_mos": False}, format="json")
    assert _next(api, work_project).json()["mos"] is None


def test_pair_assignment_shows_left_and_right(api, work_project):
    """A pair has a left and a right image: the item's two images in the lease's screen order."""
    work_project.task_kinds = ["pair"]
    work_project.save()
    item = PairItemFactory(project=work_project)
    body = _next(api, work_project).json()
    lease = Lease.objects.get(pk=body["lease_id"])
    left, right = (item.image_b, item.image) if lease.swap else (item.image, item.image_b)
    assert (_linked(body["images"]["left"]["url"], lease.annotator), _linked(body["images"]["right"]["url"], lease.annotator)) == (left, right)
    response = _submit(api, body["lease_id"], {"choice": "a"})
    assert response.status_code == 201
    assert response.json()["answer"] == {"choice": "a"}  # shown back in screen terms
    assert Judgement.objects.get().choice == ("b" if lease.swap else "a")


def test_submit_is_201_then_200_for_the_same_client_id(api, work_project):
    """The first submission creates (201); the same client_id again returns the same judgement (200)."""
    WorkItemFactory(project=work_project)
    lease_id = _next(api, work_project).json()["lease_id"]
    client_id = uuid.uuid4()

    first = _submit(api, lease_id, {"level": 4}, client_id)
    second = _submit(api, lease_id, {"level": 4}, client_id)

    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["judgement_id"] == second.json()["judgement_id"]
    assert (first.json()["created"], second.json()["created"]) == (True, False)
    assert Judgement.objects.count() == 1


@pytest.mark.parametrize(
    "answer, field",
    [({"level": 9}, "level"), ({"level": "good"}, "level"), ({}, "level"), ({"level": 3, "extra": 1}, "extra")],
)
def test_invalid_answer_is_400_with_field_errors_and_nothing_written(api, work_project, answer, field):
    """A bad answer gets 400 {"code": "invalid", "detail", "errors"} and no judgement is stored."""
    WorkItemFactory(project=work_project)
    lease_id = _next(api, work_project).json()["lease_id"]
    response = _submit(api, lease_id, answer)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid" and field in body["errors"] and body["detail"]
    assert Judgement.objects.count() == 0
    assert Lease.objects.get(pk=lease_id).status == Lease.Status.ACTIVE


def test_overall_comparison_contradicting_the_choice_is_400(api, work_project):
    """Choosing B, then "A is better than B" overall, is refused on reasoning.overall; the agreeing answer is stored."""
    work_project.task_kinds = ["pair"]
    work_project.pair_reasoning = True
    work_project.save()
    PairItemFactory(project=work_project)
    lease_id = _next(api, work_project).json()["lease_id"]
    reasoning = {
        "texture_category": "faces", "texture_a": "clear", "texture_b": "clear",
        "distortions": {name: "equal" for name in ("brightness", "color", "noise", "artifacts", "blurriness")},
        "overall": "a_better",
    }
    response = _submit(api, lease_id, {"choice": "b", "reasoning": reasoning})
    assert response.status_code == 400
    message = " ".join(response.json()["errors"]["reasoning.overall"])
    assert "B (right) is better" in message and "A is better than B" in message
    assert Judgement.objects.count() == 0
    agreeing = _submit(api, lease_id, {"choice": "b", "reasoning": {**reasoning, "overall": "a_worse"}})
    assert agreeing.status_code == 201


@pytest.mark.parametrize(
    "body, field",
    [({"answer": {"level": 3}}, "client_id"), ({"client_id": "nope", "answer": {"level": 3}}, "client_id"),
     ({"client_id": str(uuid.uuid4()), "answer": {"level": 3}, "duration_ms": -5}, "duration_ms"),
     ({"client_id": str(uuid.uuid4())}, "answer")],
)
def test_malformed_submission_is_400(api, work_project, body, field):
    """Missing or malformed client_id, answer or duration are refused with 400 naming the field."""
    WorkItemFactory(project=work_project)
    lease_id = _next(api, work_project).json()["lease_id"]
    response = api.post(reverse("api:judgement_submit", kwargs={"lease_id": lease_id}), body, format="json")
    assert response.status_code == 400 and field in response.json()["errors"]
    assert Judgement.objects.count() == 0


def test_someone_elses_or_unknown_lease_is_404(api, work_project):
    """Another annotator's lease and a missing lease both answer 404 lease_not_found; nothing is written."""
    WorkItemFactory(project=work_project)
    [other] = annotators_add(work_project, 1)
    lease_id = _next(_token_client(other), work_project).json()["lease_id"]

    for target in (lease_id, 987654):
        response = _submit(api, target, {"level": 3})
        assert response.status_code == 404
        assert response.json()["code"] == "lease_not_found"
    response = api.post(reverse("api:lease_release", kwargs={"lease_id": lease_id}))
    assert response.status_code == 404
    assert Judgement.objects.count() == 0


def test_expired_lease_is_409(api, work_project):
    """Submitting on a lease that ran out answers 409 lease_closed and writes nothing."""
    WorkItemFactory(project=work_project)
    lease_id = _next(api, work_project).json()["lease_id"]
    Lease.objects.filter(pk=lease_id).update(expires_at=Lease.objects.get(pk=lease_id).issued_at)
    response = _submit(api, lease_id, {"level": 3})
    assert response.status_code == 409 and response.json()["code"] == "lease_closed"
    assert Judgement.objects.count() == 0


def test_release_is_204_then_409(api, work_project):
    """Releasing gives the item back (204); releasing again is 409."""
    WorkItemFactory(project=work_project)
    lease_id = _next(api, work_project).json()["lease_id"]
    url = reverse("api:lease_release", kwargs={"lease_id": lease_id})
    assert api.post(url).status_code == 204
    assert api.post(url).json()["code"] == "lease_closed"


def test_no_work_is_404_and_paused_is_429(api, work_project, worker):
    """An empty queue answers 404 no_work; a paused annotator 429 paused with the time to come back."""
    response = _next(api, work_project)
    assert (response.status_code, response.json()["code"]) == (404, "no_work")

    work_project.fatigue_warn_after, work_project.fatigue_pause_after = 1, 2
    work_project.save()
    WorkItemFactory.create_batch(3, project=work_project)
    for _ in range(2):
        _submit(api, _next(api, work_project).json()["lease_id"], {"level": 3})
    response = _next(api, work_project)
    assert response.status_code == 429
    assert response.json()["code"] == "paused" and response.json()["until"]


def test_non_members_and_researchers_cannot_take_work(work_project, researcher_api):
    """Only annotator members get assignments: the project's researcher gets 403, anonymous 401, an annotator of
    another project 404 like a missing project."""
    WorkItemFactory(project=work_project)
    assert _next(researcher_api, work_project).status_code == 403
    assert _next(APIClient(), work_project).status_code == 401
    [outsider] = annotators_add(WorkItemFactory().project, 1)
    outsider_api = _token_client(outsider)
    assert _next(outsider_api, work_project).status_code == 404
    assert outsider_api.post(reverse("api:assignment_next", kwargs={"project_id": 999999})).status_code == 404


def test_session_writes_need_csrf(worker, work_project):
    """With session auth the API enforces CSRF on writes, as DRF does."""
    WorkItemFactory(project=work_project)
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(worker)
    response = browser.post(reverse("api:assignment_next", kwargs={"project_id": work_project.pk}))
    assert response.status_code == 403 and "CSRF" in response.json()["detail"]


# ------------------------------------------------------------------------------------------- training


def test_training_round_through_the_api(api, work_project):
    """Training: required → status, next item with feedback after each answer, passed, then work opens."""
    work_project.training_required = True
    work_project.training_pass_mark = 0.5
    work_project.save()
    WorkItemFactory(project=work_project)
    WorkItemFactory(project=work_project, purpose=WorkItem.Purpose.TRAINING, gold_answer={"level": 5}, feedback="Sharp and clean.")
    assert _next(api, work_project).json()["code"] == "training_required"
    status_url = reverse("api:training_status", kwargs={"project_id": work_project.pk})
    assert api.get(status_url).json()["passed"] is False

    body = api.post(reverse("api:training_next", kwargs={"project_id": work_project.pk})).json()
    assert body["training"] is True
    response = _submit(api, body["lease_id"], {"level": 4})
    assert response.json()["training_feedback"] == {"correct": True, "expected": {"level": 5}, "feedback": "Sharp and clean."}

    status = api.get(status_url).json()
    assert (status["passed"], status["answered"], status["total"], status["last_score"]) == (True, 1, 1, 1.0)
    assert _next(api, work_project).status_code == 200
    restart = api.post(reverse("api:training_restart", kwargs={"project_id": work_project.pk}))
    assert restart.status_code == 400 and restart.json()["code"] == "invalid"


# ------------------------------------------------------------------------------------------ researcher


def test_researcher_sees_all_judgements_annotator_only_their_own(api, researcher_api, work_project, worker):
    """The judgements list: a researcher sees everyone's (filterable), an annotator only theirs, without gold flags."""
    WorkItemFactory.create_batch(2, project=work_project)
    [other] = annotators_add(work_project, 1)
    other_api = _token_client(other)
    for client in (api, other_api):
        _submit(client, _next(client, work_project).json()["lease_id"], {"level": 2})
    url = reverse("api:judgement_list", kwargs={"project_id": work_project.pk})

    everyone = researcher_api.get(url).json()
    assert everyone["count"] == 2 and "gold_correct" in everyone["results"][0]
    assert researcher_api.get(url, {"annotator": other.pk}).json()["count"] == 1
    assert researcher_api.get(url, {"kind": "pair"}).json()["count"] == 0
    mine = api.get(url, {"annotator": other.pk}).json()
    assert mine["count"] == 1 and mine["results"][0]["annotator"] == worker.username
    assert "gold_correct" not in mine["results"][0] and "purpose" not in mine["results"][0]
    assert "image_a" not in mine["results"][0] and "image_a" in everyone["results"][0]  # a repeat would show its image id twice
    assert researcher_api.get(url, {"kind": "nonsense"}).status_code == 400


@pytest.mark.parametrize("name", ["project_progress", "project_settings", "gold_create", "pairs_generate"])
def test_researcher_endpoints_refuse_annotators(api, work_project, name):
    """Progress, settings, gold and pairs are for researchers managing the project: annotators get 403."""
    url = reverse(f"api:{name}", kwargs={"project_id": work_project.pk})
    for method in ("get", "post", "patch"):
        response = getattr(api, method)(url, {}, format="json")
        assert response.status_code == 403, (name, method)
        assert response.json()["code"] == "permission_denied"


def test_progress_shows_gold_accuracy_and_kinds(api, researcher_api, work_project, worker, gold_first):
    """Progress: per annotator done and gold accuracy; per kind items, judgements and complete items."""
    WorkItemFactory(project=work_project, purpose=WorkItem.Purpose.GOLD, gold_answer={"level": 1})
    WorkItemFactory(project=work_project)
    for _ in range(2):
        _submit(api, _next(api, work_project).json()["lease_id"], {"level": 1})

    body = researcher_api.get(reverse("api:project_progress", kwargs={"project_id": work_project.pk})).json()
    [row] = body["annotators"]
    assert (row["username"], row["done"], row["gold_total"], row["gold_correct"], row["gold_accuracy"]) == (worker.username, 2, 1, 1, 1.0)
    assert row["median_duration_ms"] == 1500
    rating = next(kind for kind in body["kinds"] if kind["kind"] == "rating")
    assert (rating["items"], rating["judgements"], rating["complete_items"], rating["gold_items"]) == (1, 1, 0, 1)


def test_settings_patch_validates_and_syncs_work_items(researcher_api, work_project):
    """PATCH settings changes fields, refuses bad ones with 400 naming them, and creates work items for new kinds."""
    ImageFactory.create_batch(3, project=work_project)
    url = reverse("api:project_settings", kwargs={"project_id": work_project.pk})

    response = researcher_api.patch(url, {"task_kinds": ["rating", "description"], "overlap": 4}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["task_kinds"] == ["description", "rating"] and response.json()["overlap"] == 4
    assert WorkItem.objects.filter(project=work_project, kind="description").count() == 3

    bad = researcher_api.patch(url, {"fatigue_warn_after": 60, "fatigue_pause_after": 50}, format="json")
    assert bad.status_code == 400 and "fatigue_pause_after" in bad.json()["errors"]
    bad = researcher_api.patch(url, {"gold_rate": 0.9}, format="json")
    assert bad.status_code == 400 and "gold_rate" in bad.json()["errors"]
    bad = researcher_api.patch(url, {"task_kinds": ["ranking"]}, format="json")
    assert bad.status_code == 400 and "task_kinds" in bad.json()["errors"]
    work_project.refresh_from_db()
    assert (work_project.fatigue_pause_after, work_project.gold_rate) == (50, 0.0)


def test_gold_item_created_with_validation(researcher_api, work_project):
    """POST gold/ adds a gold or training item; images of other projects and bad answers are 400."""
    image, image_b = ImageFactory.create_batch(2, project=work_project)
    url = reverse("api:gold_create", kwargs={"project_id": work_project.pk})

    response = researcher_api.post(url, {"kind": "pair", "image_id": image_b.pk, "image_b_id": image.pk, "gold_answer": {"choice": "a"}}, format="json")
    assert response.status_code == 201, response.content
    assert (response.json()["image_id"], response.json()["gold_answer"]) == (image.pk, {"choice": "b"})  # stored A < B
    training = researcher_api.post(url, {"kind": "rating", "purpose": "training", "image_id": image.pk, "gold_answer": {"level": 2},
                                         "feedback": "Noisy."}, format="json")
    assert training.status_code == 201 and training.json()["purpose"] == "training"

    foreign = ImageFactory()
    assert researcher_api.post(url, {"kind": "rating", "image_id": foreign.pk, "gold_answer": {"level": 2}}, format="json").status_code == 400
    bad = researcher_api.post(url, {"kind": "rating", "image_id": image_b.pk, "gold_answer": {"level": 7}}, format="json")
    assert bad.status_code == 400 and "gold_answer" in bad.json()["errors"]
    single_with_two = researcher_api.post(url, {"kind": "rating", "image_id": image.pk, "image_b_id": image_b.pk, "gold_answer": {"level": 2}}, format="json")
    assert single_with_two.status_code == 400


def test_pairs_generate(researcher_api, work_project):
    """POST pairs/ adds new random pairs and says how many are open."""
    ImageFactory.create_batch(4, project=work_project)
    response = researcher_api.post(reverse("api:pairs_generate", kwargs={"project_id": work_project.pk}), {"count": 4}, format="json")
    assert response.status_code == 201 and response.json() == {"created": 4, "open": 4}


# ---------------------------------------------------------------------------------------------- schema


def test_schema_and_docs_are_served_to_signed_in_users(api):
    """/api/schema/ is an OpenAPI 3 document listing the work endpoints; /api/docs/ renders from local assets."""
    response = api.get(reverse("api_schema"), HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert "/api/projects/{project_id}/assignments/next/" in schema["paths"]
    assert "/api/leases/{lease_id}/judgement/" in schema["paths"]
    docs = api.get(reverse("api_docs"))
    assert docs.status_code == 200 and b"cdn" not in docs.content.lower()
    assert APIClient().get(reverse("api_schema")).status_code in (401, 403)


def test_same_client_id_with_another_answer_is_409_with_the_stored_one(api, work_project):
    """Resubmitting a client_id with a different answer writes nothing and answers 409 client_id_reused, showing
    the answer that was kept."""
    WorkItemFactory(project=work_project)
    lease_id = _next(api, work_project).json()["lease_id"]
    client_id = uuid.uuid4()
    assert _submit(api, lease_id, {"level": 4}, client_id).status_code == 201

    response = _submit(api, lease_id, {"level": 1}, client_id)

    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "client_id_reused" and body["stored"] == {"level": 4} and body["detail"]
    assert Judgement.objects.get().level == 4


# ------------------------------------------------------------------------------------------- queries

#: SQL statements for one next + submit through the API (token auth, the lease's images included), transaction
#: control (SAVEPOINT/RELEASE here, BEGIN/COMMIT in production) not counted. A bound, so that a change that adds a
#: query per request shows; the loop used to take 23 (18 before the items-left count learnt to hide checks).
NEXT_AND_SUBMIT_QUERIES_MAX = 21


def test_next_and_submit_take_a_bounded_number_of_queries(api, work_project, worker):
    """One next + submit through the API runs at most NEXT_AND_SUBMIT_QUERIES_MAX statements, the same for the first
    item and for later ones."""
    images = ImageFactory.create_batch(12, project=work_project)
    for index in range(10):
        PairItemFactory(project=work_project, image=images[index], image_b=images[index + 1])
        WorkItemFactory(project=work_project, image=images[index])
    counts = []
    for _ in range(4):
        with CaptureQueriesContext(connection) as queries:
            assignment = _next(api, work_project)
            assert assignment.status_code == 200
            body = assignment.json()
            answer = {"choice": "a"} if body["kind"] == "pair" else {"level": 3}
            assert _submit(api, body["lease_id"], answer).status_code == 201
        statements = [query["sql"] for query in queries.captured_queries if not query["sql"].startswith(("SAVEPOINT", "RELEASE"))]
        counts.append(len(statements))
        assert len(statements) <= NEXT_AND_SUBMIT_QUERIES_MAX, "\n".join(sql[:160] for sql in statements)
    print(f"\n[queries] next + submit: {counts}")
