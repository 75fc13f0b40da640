"""Annotators' image URLs: opaque, per lease, short-lived, for the user (session or API token) they were made for;
gold and repeat items served exactly like work, the items-left count included."""
import random
import re
import time
import uuid
from types import SimpleNamespace

import pytest
from django.core import signing
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotation import image_links
from annotation.models import Image, Lease, WorkItem
from annotation.services import queue
from annotation.services.imports import image_import
from tests.factories import PairItemFactory, WorkItemFactory, annotators_add, image_bytes
from tests.studies.builders import study_with_systems

pytestmark = pytest.mark.django_db

OPAQUE_URL = re.compile(r"^(http://testserver)?/i/[A-Za-z0-9_\-:]+/$")


def _token_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


def _signed(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[1]


def _body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def _stored(image: Image) -> bytes:
    with image.file.open("rb") as handle:
        return handle.read()


def _images(project, count: int, first_seed: int = 1) -> list[Image]:
    return [image_import(project=project, name=f"i{k}.png", data=image_bytes(seed=first_seed + k)).image for k in range(count)]


@pytest.fixture
def checked_project(project, monkeypatch):
    """Ratings with gold and repeats, four work items and one gold item on real images; the queue's draws are
    work, gold, repeat, work (in that order)."""
    project.task_kinds = ["rating"]
    project.overlap, project.gold_rate, project.repeat_rate, project.training_required = 1, 0.2, 0.2, False
    project.save()
    images = _images(project, 5)
    for image in images[:4]:
        WorkItemFactory(project=project, image=image)
    WorkItemFactory(project=project, image=images[4], purpose=WorkItem.Purpose.GOLD, gold_answer={"level": 4}, feedback="secret")
    draws = iter([0.99, 0.0, 0.3] + [0.99] * 20)
    monkeypatch.setattr(queue, "random", SimpleNamespace(Random=lambda: SimpleNamespace(random=lambda: next(draws)), uniform=random.uniform))
    return project


def _shape(value):
    """The JSON's keys and value types, recursively (what a client could tell two bodies apart by)."""
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in value.items()}
    return type(value).__name__


def test_gold_and_repeat_are_served_like_work_through_the_api(checked_project):
    """Work, gold, repeat and work again: the same JSON shape, opaque URLs naming only the lease, a new URL for the
    repeated image, and the items-left count dropping by one for each of them."""
    [worker] = annotators_add(checked_project, 1)
    api = _token_client(worker)
    next_url = reverse("api:assignment_next", kwargs={"project_id": checked_project.pk})
    before = queue.annotator_progress(project=checked_project, annotator=worker).remaining
    bodies, drops = [], []
    for _ in range(4):
        body = api.post(next_url).json()
        bodies.append(body)
        drops.append(before - body["progress"]["remaining"])
        answer = {"client_id": str(uuid.uuid4()), "answer": {"level": 3}}
        assert api.post(body["judgement_url"], answer, format="json").status_code == 201
        before = queue.annotator_progress(project=checked_project, annotator=worker).remaining
    leases = [Lease.objects.select_related("item").get(pk=body["lease_id"]) for body in bodies]
    assert [(lease.item.purpose, lease.is_repeat) for lease in leases] == [("work", False), ("gold", False), ("work", True), ("work", False)]
    assert leases[2].item_id == leases[0].item_id  # the repeat: the first item again
    assert drops == [1, 1, 1, 1]
    assert all(_shape(body) == _shape(bodies[0]) for body in bodies)
    image_ids = set(Image.objects.filter(project=checked_project).values_list("pk", flat=True))
    for body in bodies:
        url = body["images"]["left"]["url"]
        assert OPAQUE_URL.match(url), url
        assert "secret" not in str(body) and "gold" not in str(body) and "repeat" not in str(body)
        assert all(f"/images/{pk}/" not in str(body) for pk in image_ids)
        # What the URL carries (readable, though signed): the lease the client was given anyway, and the side.
        payload = signing.TimestampSigner(salt=image_links.SALT).unsign_object(_signed(url))
        assert [value for value in payload.values() if isinstance(value, int) and value > 1] in ([], [body["lease_id"]])
        assert api.get(url).status_code == 200
    assert bodies[2]["images"]["left"]["url"] != bodies[0]["images"]["left"]["url"]


def test_gold_and_repeat_are_served_like_work_on_the_page(client, checked_project):
    """On the work page too: each item's images come by opaque URLs that load for the annotator, no URL or
    attribute names an image, and the repeat's URL is not the first one's."""
    [worker] = annotators_add(checked_project, 1)
    client.force_login(worker)
    item_url = reverse("annotation:annotate_item", kwargs={"project_id": checked_project.pk})
    submit_url = reverse("annotation:annotate_submit", kwargs={"project_id": checked_project.pk})
    page = client.get(item_url, HTTP_HX_REQUEST="true").content.decode()
    sources, attributes = [], []
    for _ in range(4):
        [src] = re.findall(r'<img src="([^"]+)"', page)
        sources.append(src)
        # The Undo button (data-undo) shows once there is an answer to undo: about the last answer, not this item.
        attributes.append(sorted(set(re.findall(r'\s(data-[a-z-]+)(?==|\s|>)', page)) - {"data-undo"}))
        assert OPAQUE_URL.match(src) and "/images/" not in page
        assert f'data-full="{src}"' in page
        lease_id = re.search(r'name="lease_id" value="(\d+)"', page)[1]
        assert _body(client.get(src)) == _stored(Lease.objects.get(pk=lease_id).item.image)
        page = client.post(submit_url, {"lease_id": lease_id, "client_id": str(uuid.uuid4()), "level": "3"}, HTTP_HX_REQUEST="true").content.decode()
    assert len(set(sources)) == 4  # the repeat (third) got its own URL
    assert all(found == attributes[0] for found in attributes)


def test_a_token_client_loads_every_image_url_it_was_given_and_no_one_else_does(project):
    """A pair with a shared reference: left, right and reference load for the token that got them (the right
    bytes, private short caching); another annotator's token and session, and anonymous users, get 404."""
    project.task_kinds, project.gold_rate, project.training_required = ["pair"], 0.0, False
    project.save()
    reference, first, second = _images(project, 3)
    Image.objects.filter(pk__in=[first.pk, second.pk]).update(reference=reference)
    PairItemFactory(project=project, image=first, image_b=second)
    worker, other = annotators_add(project, 2)
    body = _token_client(worker).post(reverse("api:assignment_next", kwargs={"project_id": project.pk})).json()
    lease = Lease.objects.get(pk=body["lease_id"])
    expected = {"left": second if lease.swap else first, "right": first if lease.swap else second, "reference": reference}
    outsider = _token_client(other)
    anonymous = APIClient()
    for side, image in expected.items():
        url = body["images"][side]["url"]
        response = _token_client(worker).get(url)
        assert response.status_code == 200, side
        assert _body(response) == _stored(image)
        assert "private" in response["Cache-Control"] and "max-age=300" in response["Cache-Control"]
        assert outsider.get(url).status_code == 404
        assert anonymous.get(url).status_code == 404
    session = APIClient()
    session.force_login(other)
    assert session.get(body["images"]["left"]["url"]).status_code == 404


def test_an_expired_or_tampered_url_is_a_plain_404(client, checked_project):
    """The same payload signed longer ago than the lease's life plus the margin is refused, as is a forged one,
    with the same bare 404 as for a URL that never existed."""
    [worker] = annotators_add(checked_project, 1)
    lease = queue.assignment_next(project=checked_project, annotator=worker).lease
    fresh = image_links.lease_image_urls(lease)["left"]
    payload = signing.TimestampSigner(salt=image_links.SALT).unsign_object(_signed(fresh))
    age = checked_project.lease_seconds + image_links.MARGIN_S + 60

    class SignedEarlier(signing.TimestampSigner):
        def timestamp(self):
            return signing.b62_encode(int(time.time()) - age)

    old = SignedEarlier(salt=image_links.SALT).sign_object(payload)
    client.force_login(worker)
    assert client.get(fresh).status_code == 200
    value = _signed(fresh)
    forged = value[:-2] + ("AA" if not value.endswith("AA") else "BB")
    missing_url = reverse("annotation:image_signed", kwargs={"signed": "nothing"})
    def bare(response, url) -> str:  # the page names the path and carries a fresh CSRF token; nothing else may differ
        return re.sub(r'("X-CSRFToken": "|csrfmiddlewaretoken" value=")[^"]+"', "", response.content.decode().replace(url, ""))

    missing = bare(client.get(missing_url), missing_url)
    for signed in (old, forged):
        url = reverse("annotation:image_signed", kwargs={"signed": signed})
        response = client.get(url)
        assert response.status_code == 404
        assert bare(response, url) == missing


def test_a_study_trial_image_loads_for_its_token_only(project, researcher):
    """The study API's image URL is opaque and loads for the annotator's token, not for another annotator's."""
    voter, other = annotators_add(project, 2)
    study = study_with_systems(project=project, researcher=researcher, annotators=[voter, other], n_images=2)
    body = _token_client(voter).post(reverse("api:study_trial_next", kwargs={"study_id": study.pk})).json()
    assert OPAQUE_URL.match(body["image_url"])
    assert _token_client(voter).get(body["image_url"]).status_code == 200
    assert _token_client(other).get(body["image_url"]).status_code == 404
