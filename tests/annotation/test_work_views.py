"""The work pages without a browser: who may open them, what the endpoints answer, CSRF, and what they write."""
import uuid
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from annotation.models import Judgement, Lease, Membership, Project, WorkItem
from annotation.services import queue, work
from tests.factories import AnnotatorFactory, MembershipFactory, ResearcherFactory
from tests.work_data import project_images, work_project

HTMX = {"HTTP_HX_REQUEST": "true"}

ANNOTATOR_GETS = ["annotation:annotate", "annotation:annotate_item", "annotation:training", "annotation:training_item"]
ANNOTATOR_POSTS = ["annotation:annotate_submit", "annotation:annotate_release", "annotation:training_restart"]
RESEARCHER_PAGES = ["annotation:project_annotation_settings", "annotation:project_judgements", "annotation:project_gold"]


def _url(name: str, project: Project) -> str:
    return reverse(name, kwargs={"project_id": project.pk})


def _lease(client, project) -> Lease:
    """Ask for the current item as the page does; the lease it shows."""
    response = client.get(_url("annotation:annotate_item", project), **HTMX)
    assert response.status_code == 200
    return response.context["lease"]


def _submit(client, project, lease, answer: dict, *, client_id=None, duration_ms="1234"):
    data = {"lease_id": lease.pk, "client_id": str(client_id or uuid.uuid4()), "duration_ms": duration_ms, **answer}
    return client.post(_url("annotation:annotate_submit", project), data, **HTMX)


@pytest.fixture
def rating_project(project, annotator_member):
    work_project(project, kinds=["rating"], images=3)
    return project


# ----------------------------------------------------------------------------------------------- access


@pytest.mark.parametrize("name", ANNOTATOR_GETS + ANNOTATOR_POSTS)
def test_researcher_member_gets_403_on_annotator_routes(client, rating_project, researcher, name):
    """The project's own researcher is not an annotator of it: 403 on every annotator page and endpoint."""
    client.force_login(researcher)
    method = client.post if name in ANNOTATOR_POSTS else client.get
    assert method(_url(name, rating_project), **HTMX).status_code == 403


@pytest.mark.parametrize("name", ANNOTATOR_GETS + ANNOTATOR_POSTS)
def test_annotator_of_another_project_gets_404(client, rating_project, name):
    """An annotator who is not a member of this project gets 404, whatever the method: its id tells nothing."""
    client.force_login(AnnotatorFactory())
    method = client.post if name in ANNOTATOR_POSTS else client.get
    assert method(_url(name, rating_project), **HTMX).status_code == 404


@pytest.mark.parametrize("name", ANNOTATOR_GETS)
def test_anonymous_is_sent_to_login(client, rating_project, name):
    """Anonymous visitors are sent to the login page."""
    response = client.get(_url(name, rating_project))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_missing_project_is_404(client, annotator_member):
    """A project id that does not exist is 404 for an annotator."""
    client.force_login(annotator_member)
    assert client.get(reverse("annotation:annotate", kwargs={"project_id": 999999})).status_code == 404


@pytest.mark.parametrize("name", RESEARCHER_PAGES)
def test_annotator_member_gets_403_on_researcher_work_pages(client, rating_project, annotator_member, name):
    """Annotators never see settings, judgements or gold items, not even of their own project."""
    client.force_login(annotator_member)
    assert client.get(_url(name, rating_project)).status_code == 403
    assert client.post(_url(name, rating_project)).status_code == 403


@pytest.mark.parametrize("name", RESEARCHER_PAGES)
def test_other_researcher_gets_404_and_manager_200(client, rating_project, researcher, name):
    """A researcher of another project gets 404; its manager gets the page."""
    client.force_login(ResearcherFactory())
    assert client.get(_url(name, rating_project)).status_code == 404
    client.force_login(researcher)
    assert client.get(_url(name, rating_project)).status_code == 200


# ----------------------------------------------------------------------------------------------- pages


def test_work_page_is_a_shell_that_loads_the_item_with_htmx(client, rating_project, annotator_member):
    """The work page holds no item itself: it asks the item partial for one when it loads."""
    client.force_login(annotator_member)
    html = client.get(_url("annotation:annotate", rating_project)).content.decode()
    assert f'hx-get="{_url("annotation:annotate_item", rating_project)}"' in html
    assert 'hx-trigger="load"' in html
    assert "annotate.js" in html


def test_item_partial_without_htmx_redirects_to_the_page(client, rating_project, annotator_member):
    """Opening the partial's URL directly lands on the work page around it."""
    client.force_login(annotator_member)
    response = client.get(_url("annotation:annotate_item", rating_project))
    assert response.status_code == 302 and response["Location"] == _url("annotation:annotate", rating_project)


def test_rating_item_shows_five_levels_as_choices_and_a_server_uuid(client, rating_project, annotator_member):
    """A rating item offers the five ITU levels as radio choices (never a number box) and carries a uuid."""
    client.force_login(annotator_member)
    response = client.get(_url("annotation:annotate_item", rating_project), **HTMX)
    html = response.content.decode()
    for label in ["Bad", "Poor", "Fair", "Good", "Excellent"]:
        assert label in html
    assert html.count('type="radio" name="level"') == 5
    assert 'type="number"' not in html
    uuid.UUID(response.context["client_id"])


def test_annotator_home_shows_progress_and_a_start_button(client, rating_project, annotator_member):
    """Home lists the project with done/left counts and a Start link to its work page."""
    client.force_login(annotator_member)
    html = client.get(reverse("annotation:annotator_home")).content.decode()
    assert "0 done · 3 left" in html
    assert f'href="{_url("annotation:annotate", rating_project)}"' in html
    assert ">Start<" in html


def test_project_card_and_work_page_count_the_same_items_left(client, rating_project, annotator_member):
    """The card on the annotator's home and the work page showing an item give the same number left (one
    function: Progress.left, the item on screen included); answering it takes one off (issue 17, bug 7)."""
    client.force_login(annotator_member)

    def card_left() -> int:
        return client.get(reverse("annotation:annotator_home")).context["cards"][0]["progress"].left

    before = card_left()
    item = client.get(_url("annotation:annotate_item", rating_project), **HTMX)
    assert item.context["progress"].left == before == 3 and f"{before} left" in item.content.decode()
    assert card_left() == before  # the card while the item is on screen
    answered = _submit(client, rating_project, item.context["lease"], {"level": "3"})
    assert answered.context["progress"].left == card_left() == before - 1


def test_annotator_home_says_when_training_comes_first(client, project, annotator_member):
    """With a training round required and not passed, home offers training instead of work."""
    images = work_project(project, kinds=["rating"], images=2, training_required=True)
    work.gold_item_add(project, kind="rating", image=images[0], gold_answer={"level": 2}, purpose="training", feedback="Blurry.")
    client.force_login(annotator_member)
    html = client.get(reverse("annotation:annotator_home")).content.decode()
    assert "Training required" in html
    assert f'href="{_url("annotation:training", project)}"' in html


# ------------------------------------------------------------------------------------------- submitting


def test_submit_writes_one_judgement_and_returns_the_next_item(client, rating_project, annotator_member):
    """A valid answer is stored with its duration, and the response is the next item's partial."""
    client.force_login(annotator_member)
    lease = _lease(client, rating_project)
    response = _submit(client, rating_project, lease, {"level": "4"})
    assert response.status_code == 200
    judgement = Judgement.objects.get(annotator=annotator_member)
    assert (judgement.lease_id, judgement.level, judgement.duration_ms) == (lease.pk, 4, 1234)
    assert response.context["lease"].pk != lease.pk
    assert 'data-testid="work-item"' in response.content.decode()


def test_resubmitting_the_same_client_id_writes_nothing_more(client, rating_project, annotator_member):
    """A double submission (same client id) leaves one judgement and answers with the same next item."""
    client.force_login(annotator_member)
    lease = _lease(client, rating_project)
    client_id = uuid.uuid4()
    first = _submit(client, rating_project, lease, {"level": "3"}, client_id=client_id)
    second = _submit(client, rating_project, lease, {"level": "3"}, client_id=client_id)
    assert second.status_code == 200
    assert Judgement.objects.filter(annotator=annotator_member).count() == 1
    assert first.context["lease"].pk == second.context["lease"].pk


def test_invalid_answer_returns_the_form_with_a_message_and_writes_nothing(client, project, annotator_member):
    """A pathway answer with a too-short description comes back (422) with the message and the text kept."""
    work_project(project, kinds=["pathway"], images=1)
    client.force_login(annotator_member)
    lease = _lease(client, project)
    client_id = uuid.uuid4()
    response = _submit(client, project, lease, {"description": "blurry", "conclusion": "Poor overall quality."}, client_id=client_id)
    assert response.status_code == 422
    html = response.content.decode()
    assert "at least 40 characters" in html
    assert ">blurry</textarea>" in html and "Poor overall quality.</textarea>" in html
    assert str(client_id) in html  # the same id, so the corrected answer is still one judgement
    assert not Judgement.objects.exists()


def test_description_errors_land_on_their_rows(client, project, annotator_member):
    """A half-filled questionnaire marks each missing row with its own message."""
    work_project(project, kinds=["description"], images=1)
    client.force_login(annotator_member)
    lease = _lease(client, project)
    response = _submit(client, project, lease, {"texture_category": "bricks", "distortion_noise": "mild"})
    assert response.status_code == 422
    errors = response.context["field_errors"]
    assert "texture_condition" in errors and "distortion_blurriness" in errors and "overall" in errors
    assert "texture_category" not in errors and "distortion_noise" not in errors
    assert not Judgement.objects.exists()


def test_pathway_page_shows_the_mos_only_when_the_project_does_and_the_image_has_one(client, project, annotator_member):
    """"MOS: 72 / 100" beside a pathway item when the option is on and the image has a MOS; otherwise nothing."""
    [image] = work_project(project, kinds=["pathway"], images=1)
    client.force_login(annotator_member)
    image.mos_normalised = 72.4
    image.save()
    assert "MOS:" not in client.get(_url("annotation:annotate_item", project), **HTMX).content.decode()
    work.project_settings_update(project, pathway_show_mos=True)
    assert "MOS: 72 / 100" in client.get(_url("annotation:annotate_item", project), **HTMX).content.decode()
    image.mos_normalised = None
    image.save()
    assert "MOS:" not in client.get(_url("annotation:annotate_item", project), **HTMX).content.decode()


def test_pair_page_shows_the_reference_both_images_share(client, project, annotator_member):
    """A pair of two versions of one reference shows it; a pair without a shared reference shows none."""
    images = work_project(project, kinds=["pair"], images=2)
    client.force_login(annotator_member)
    assert 'data-testid="reference-image"' not in client.get(_url("annotation:annotate_item", project), **HTMX).content.decode()
    reference = project_images(project, 1, start=10)[0]
    for image in images:
        image.reference = reference
        image.save()
    response = client.get(_url("annotation:annotate_item", project), **HTMX)
    assert 'data-testid="reference-image"' in response.content.decode() and response.context["image_urls"]["reference"]


def test_pair_answer_is_stored_in_item_terms(client, project, annotator_member):
    """Choosing the LEFT image stores the item's image that was shown there (swap respected)."""
    work_project(project, kinds=["pair"], images=2)
    client.force_login(annotator_member)
    lease = _lease(client, project)
    _submit(client, project, lease, {"choice": "a"})
    judgement = Judgement.objects.get()
    assert judgement.choice == ("b" if lease.swap else "a")


def test_someone_elses_lease_is_404_and_writes_nothing(client, rating_project, annotator_member):
    """Submitting or releasing another annotator's lease answers 404 and changes nothing."""
    other = AnnotatorFactory()
    MembershipFactory(project=rating_project, user=other)
    other_lease = queue.assignment_next(project=rating_project, annotator=other).lease
    client.force_login(annotator_member)
    assert _submit(client, rating_project, other_lease, {"level": "2"}).status_code == 404
    response = client.post(_url("annotation:annotate_release", rating_project), {"lease_id": other_lease.pk}, **HTMX)
    assert response.status_code == 404
    other_lease.refresh_from_db()
    assert other_lease.status == Lease.Status.ACTIVE
    assert not Judgement.objects.exists()


def test_unknown_lease_and_bad_client_id_are_refused(client, rating_project, annotator_member):
    """A lease id that does not exist is 404; a client id that is not a UUID is 400."""
    client.force_login(annotator_member)
    url = _url("annotation:annotate_submit", rating_project)
    assert client.post(url, {"lease_id": 999999, "client_id": str(uuid.uuid4()), "level": "3"}, **HTMX).status_code == 404
    lease = _lease(client, rating_project)
    assert client.post(url, {"lease_id": lease.pk, "client_id": "not-a-uuid", "level": "3"}, **HTMX).status_code == 400
    assert not Judgement.objects.exists()


def test_expired_lease_writes_nothing_and_shows_the_next_item(client, rating_project, annotator_member):
    """An answer on a lease that ran out is not stored; the page moves on with a notice."""
    client.force_login(annotator_member)
    lease = _lease(client, rating_project)
    Lease.objects.filter(pk=lease.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = _submit(client, rating_project, lease, {"level": "3"})
    assert response.status_code == 200
    assert "That answer was not saved" in response.content.decode()
    assert response.context["lease"].pk != lease.pk
    assert not Judgement.objects.exists()


def test_release_skips_to_another_item(client, rating_project, annotator_member):
    """Skipping gives the lease back and shows a different item."""
    client.force_login(annotator_member)
    lease = _lease(client, rating_project)
    response = client.post(_url("annotation:annotate_release", rating_project), {"lease_id": lease.pk}, **HTMX)
    assert response.status_code == 200
    lease.refresh_from_db()
    assert lease.status == Lease.Status.RELEASED
    assert response.context["lease"].item_id != lease.item_id


def test_posts_need_the_csrf_token(rating_project, annotator_member):
    """With CSRF checks on, a submit or release without the token is 403; with the header htmx sends, it goes through."""
    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(annotator_member)
    page = csrf_client.get(_url("annotation:annotate", rating_project))
    token = page.context["csrf_token"]
    item = csrf_client.get(_url("annotation:annotate_item", rating_project), **HTMX)
    lease = item.context["lease"]
    data = {"lease_id": lease.pk, "client_id": str(uuid.uuid4()), "level": "5"}
    for name in ANNOTATOR_POSTS:
        assert csrf_client.post(_url(name, rating_project), data, **HTMX).status_code == 403, name
    assert not Judgement.objects.exists()
    response = csrf_client.post(_url("annotation:annotate_submit", rating_project), data, HTTP_X_CSRFTOKEN=str(token), **HTMX)
    assert response.status_code == 200
    assert Judgement.objects.count() == 1


# -------------------------------------------------------------------------------------------- states


def test_no_work_left_state(client, project, annotator_member):
    """With every item judged, the partial says there is no work left."""
    work_project(project, kinds=["rating"], images=1)
    client.force_login(annotator_member)
    _submit(client, project, _lease(client, project), {"level": "3"})
    response = client.get(_url("annotation:annotate_item", project), **HTMX)
    assert response.context["state"] == "no_work"
    assert "No work left" in response.content.decode()


def test_paused_state_shows_until_when(client, rating_project, annotator_member):
    """After the pause threshold the server refuses new items and the page says until when."""
    Project.objects.filter(pk=rating_project.pk).update(fatigue_warn_after=1, fatigue_pause_after=2, fatigue_break_minutes=10)
    Membership.objects.filter(user=annotator_member).update(run_count=2, last_submitted_at=timezone.now())
    client.force_login(annotator_member)
    response = client.get(_url("annotation:annotate_item", rating_project), **HTMX)
    assert response.context["state"] == "paused"
    assert 'data-testid="paused-until"' in response.content.decode()
    assert not Lease.objects.filter(annotator=annotator_member).exists()


def test_fatigue_warning_appears_after_the_warn_threshold(client, rating_project, annotator_member):
    """Past `fatigue_warn_after` consecutive items the item carries the fatigue banner."""
    Project.objects.filter(pk=rating_project.pk).update(fatigue_warn_after=1, fatigue_pause_after=5)
    client.force_login(annotator_member)
    first = client.get(_url("annotation:annotate_item", rating_project), **HTMX)
    assert 'data-testid="fatigue-warning"' not in first.content.decode()
    response = _submit(client, rating_project, first.context["lease"], {"level": "3"})
    assert 'data-testid="fatigue-warning"' in response.content.decode()


def test_training_required_state_links_to_training(client, project, annotator_member):
    """Before passing a required training round the item partial sends the annotator to training."""
    images = work_project(project, kinds=["rating"], images=2, training_required=True)
    work.gold_item_add(project, kind="rating", image=images[0], gold_answer={"level": 2}, purpose="training", feedback="Blurry.")
    client.force_login(annotator_member)
    response = client.get(_url("annotation:annotate_item", project), **HTMX)
    assert response.context["state"] == "training_required"
    assert _url("annotation:training", project) in response.content.decode()


# -------------------------------------------------------------------------------------------- training


def test_training_round_gives_feedback_then_the_result(client, project, annotator_member):
    """Each training answer is followed by right/wrong, the expected answer and the explanation; then the result."""
    images = work_project(project, kinds=["rating"], images=3, training_required=True, training_pass_mark=0.5)
    work.gold_item_add(project, kind="rating", image=images[0], gold_answer={"level": 1}, purpose="training", feedback="Heavy blur.")
    work.gold_item_add(project, kind="rating", image=images[1], gold_answer={"level": 5}, purpose="training", feedback="Crisp.")
    client.force_login(annotator_member)
    page = client.get(_url("annotation:training", project)).content.decode()
    assert "Heavy blur." in page and "Excellent" in page  # the level examples

    item = client.get(_url("annotation:training_item", project), **HTMX)
    feedback = _submit(client, project, item.context["lease"], {"level": "1"})
    assert feedback.context["feedback"]["correct"] is True
    assert "Heavy blur." in feedback.content.decode()

    item = client.get(_url("annotation:training_item", project), **HTMX)
    feedback = _submit(client, project, item.context["lease"], {"level": "1"})
    assert feedback.context["feedback"]["correct"] is False
    assert "5 – Excellent" in feedback.content.decode()

    result = client.get(_url("annotation:training_item", project), **HTMX)
    assert 'data-passed="true"' in result.content.decode()
    assert Membership.objects.get(user=annotator_member).training_passed_at is not None


def test_failed_training_can_be_restarted(client, project, annotator_member):
    """Below the pass mark, restarting begins a new attempt."""
    images = work_project(project, kinds=["rating"], images=2, training_required=True, training_pass_mark=1.0)
    work.gold_item_add(project, kind="rating", image=images[0], gold_answer={"level": 1}, purpose="training", feedback="Blur.")
    client.force_login(annotator_member)
    item = client.get(_url("annotation:training_item", project), **HTMX)
    _submit(client, project, item.context["lease"], {"level": "5"})
    result = client.get(_url("annotation:training_item", project), **HTMX)
    assert 'data-passed="false"' in result.content.decode()
    response = client.post(_url("annotation:training_restart", project))
    assert response.status_code == 302
    assert Membership.objects.get(user=annotator_member).training_attempt == 2


# ---------------------------------------------------------------------------------------- researcher side


def test_settings_form_saves_through_the_service(client, project, researcher):
    """The settings form stores kinds and numbers, and makes the work items of the enabled kinds."""
    project_images(project, 2)
    client.force_login(researcher)
    data = {
        "task_kinds": ["rating", "description"], "overlap": "2", "pair_source": "random", "selection_strategy": "eig_prior",
        "pair_batch_size": "20", "gold_rate": "0.1", "repeat_rate": "0", "lease_seconds": "300", "fatigue_warn_after": "20",
        "fatigue_pause_after": "40", "fatigue_break_minutes": "5", "training_pass_mark": "0.8", "pair_allow_tie": "on",
        "pathway_show_mos": "on",
    }
    response = client.post(_url("annotation:project_annotation_settings", project), data)
    assert response.status_code == 302
    project.refresh_from_db()
    assert project.task_kinds == ["description", "rating"]
    assert (project.overlap, project.lease_seconds, project.training_required, project.pair_allow_tie) == (2, 300, False, True)
    assert project.pathway_show_mos is True
    assert WorkItem.objects.filter(project=project, purpose="work").count() == 4


def test_settings_form_shows_the_services_errors(client, project, researcher):
    """A pause that does not come after the warning is refused with the service's message; nothing changes."""
    client.force_login(researcher)
    data = {
        "task_kinds": ["rating"], "overlap": "3", "pair_source": "random", "selection_strategy": "eig_prior",
        "pair_batch_size": "20", "gold_rate": "0.1", "repeat_rate": "0", "lease_seconds": "600", "fatigue_warn_after": "30",
        "fatigue_pause_after": "10", "fatigue_break_minutes": "10", "training_pass_mark": "0.7",
    }
    response = client.post(_url("annotation:project_annotation_settings", project), data)
    assert response.status_code == 200
    assert "The pause must come after the warning" in response.content.decode()
    project.refresh_from_db()
    assert project.task_kinds == []


def test_gold_form_adds_an_item_and_checks_the_image(client, project, researcher):
    """A training item is added from an image id of the project; an id from elsewhere is refused."""
    images = project_images(project, 2)
    client.force_login(researcher)
    url = _url("annotation:project_gold", project)
    data = {"kind": "rating", "purpose": "training", "image": images[0].pk, "level": "2", "feedback": "Visible noise."}
    assert client.post(url, data).status_code == 302
    item = WorkItem.objects.get(purpose="training")
    assert (item.image_id, item.gold_answer, item.feedback) == (images[0].pk, {"level": 2}, "Visible noise.")
    response = client.post(url, {**data, "image": 999999})
    assert "This project has no image #999999" in response.content.decode()
    pair = client.post(url, {"kind": "pair", "purpose": "gold", "image": images[1].pk, "image_b": images[0].pk, "choice": "a"})
    assert pair.status_code == 302
    gold = WorkItem.objects.get(purpose="gold")
    assert (gold.image_id, gold.image_b_id, gold.gold_answer) == (images[0].pk, images[1].pk, {"choice": "b"})


def test_judgements_page_shows_answers_gold_accuracy_and_filters(client, project, researcher, annotator_member):
    """Researchers see readable answers, each annotator's gold accuracy, and can filter by kind and annotator."""
    images = work_project(project, kinds=["rating"], images=2, gold_rate=0.5)
    work.gold_item_add(project, kind="rating", image=images[0], gold_answer={"level": 5}, purpose="gold")
    gold_item = WorkItem.objects.get(purpose="gold")
    lease = Lease.objects.create(
        item=gold_item, annotator=annotator_member, issued_at=timezone.now(), expires_at=timezone.now() + timedelta(minutes=5)
    )
    queue.judgement_submit(lease_id=lease.pk, annotator=annotator_member, client_id=uuid.uuid4(), answer={"level": 1}, duration_ms=4000)
    client.force_login(researcher)
    response = client.get(_url("annotation:project_judgements", project))
    html = response.content.decode()
    stats = {row["username"]: row for row in response.context["annotators"]}
    assert stats[annotator_member.username]["gold_accuracy"] == 0.0
    assert "0% <span" in html and "(0/1)" in html
    assert "1 – Bad" in html
    assert "4.0 s" in html  # median time per item
    filtered = client.get(_url("annotation:project_judgements", project), {"kind": "pair"})
    assert filtered.context["page"].paginator.count == 0
    by_annotator = client.get(_url("annotation:project_judgements", project), {"annotator": annotator_member.pk})
    assert by_annotator.context["page"].paginator.count == 1


def test_the_judgements_page_pages_with_its_filters_kept(client, project, researcher, monkeypatch):
    """Past one page of judgements the shared pagination shows, and its links keep the page's filters."""
    from annotation.views import researcher_work
    from annotation.vocabulary import TaskKind
    from tests.evaluation.judgement_builders import annotators_make, judgements_add

    monkeypatch.setattr(researcher_work, "JUDGEMENTS_PER_PAGE", 1)
    images = work_project(project, kinds=["rating"], images=2)
    judgements_add(project, [(images[0], 2), (images[1], 4)], annotators_make(project, 1), kind=TaskKind.RATING)
    client.force_login(researcher)
    html = client.get(_url("annotation:project_judgements", project), {"kind": "rating"}).content.decode()
    assert "Page 1 of 2" in html and "?kind=rating&amp;page=2" in html
    last = client.get(_url("annotation:project_judgements", project), {"kind": "rating", "page": 2}).content.decode()
    assert "Page 2 of 2" in last and "Next" not in last


def test_resubmitting_a_client_id_with_another_answer_says_so(client, rating_project, annotator_member):
    """The same client id with a changed answer keeps the first one and tells the annotator (409, swapped in)."""
    client.force_login(annotator_member)
    lease = _lease(client, rating_project)
    client_id = uuid.uuid4()
    _submit(client, rating_project, lease, {"level": "3"}, client_id=client_id)
    response = _submit(client, rating_project, lease, {"level": "5"}, client_id=client_id)
    assert response.status_code == 409
    assert "already answered with a different answer; the first answer is kept" in response.content.decode()
    assert Judgement.objects.get(annotator=annotator_member).level == 3


def test_researcher_is_told_when_required_training_has_no_items(client, project, researcher):
    """Training required with kinds enabled and no training item: every project page warns the researcher that
    annotators skip the round; a training item, or training turned off, removes the warning (issue 17, bug 8)."""
    images = work_project(project, kinds=["rating"], images=2, training_required=True)
    client.force_login(researcher)
    pages = ["annotation:project_detail", "annotation:project_annotation_settings", "annotation:project_gold"]
    for name in pages:
        assert 'data-testid="training-missing"' in client.get(_url(name, project)).content.decode(), name
    work.gold_item_add(project, kind="rating", image=images[0], image_b=None, gold_answer={"level": 4},
                       purpose=WorkItem.Purpose.TRAINING, feedback="sharp")
    assert 'data-testid="training-missing"' not in client.get(_url(pages[0], project)).content.decode()
    WorkItem.objects.filter(project=project, purpose=WorkItem.Purpose.TRAINING).delete()
    work.project_settings_update(project, training_required=False)
    assert 'data-testid="training-missing"' not in client.get(_url(pages[0], project)).content.decode()
