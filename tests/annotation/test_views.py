"""Researcher and annotator pages: login, landing, projects, members, images, imports, workers."""

import pytest
from django.urls import reverse

from annotation.image_links import lease_image_urls
from annotation.models import Image, ImportBatch, Membership, Project
from annotation.services.imports import image_import, import_batch_process_staged
from annotation.services.queue import assignment_next
from annotation.services.work import project_settings_update
from annotation.vocabulary import TaskKind
from modeling.models import DeviceReport
from tests.factories import (
    PASSWORD,
    AnnotatorFactory,
    MembershipFactory,
    ProjectFactory,
    ResearcherFactory,
    image_bytes,
    zip_bytes,
)


def _upload(name: str, data: bytes, content_type: str = "image/png"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data, content_type=content_type)


# ------------------------------------------------------------------------------------------- login, landing


def test_login_form_signs_in_and_lands_researcher_on_projects(client, researcher):
    """Logging in through the form takes a researcher to the project list."""
    response = client.post(reverse("login"), {"username": researcher.username, "password": PASSWORD}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("annotation:project_list")
    assert b"Researcher" in response.content  # the role shown in the nav


def test_login_form_rejects_a_wrong_password(client, researcher):
    """A wrong password re-renders the form with an error and signs nobody in."""
    response = client.post(reverse("login"), {"username": researcher.username, "password": "wrong"})
    assert response.status_code == 200
    assert b"correct username and password" in response.content
    assert "_auth_user_id" not in client.session


def test_logout_is_a_post(client, researcher):
    """Logging out is a POST (a link cannot sign someone out) and returns to the login page."""
    client.force_login(researcher)
    response = client.post(reverse("logout"))
    assert response.status_code == 302 and response["Location"] == reverse("login")
    assert client.get(reverse("annotation:project_list")).status_code == 302


@pytest.mark.parametrize(
    "make_user, target",
    [(ResearcherFactory, "annotation:project_list"), (AnnotatorFactory, "annotation:annotator_home")],
)
def test_home_redirects_by_role(client, db, make_user, target):
    """`/` sends researchers to their projects and annotators to the projects they annotate."""
    client.force_login(make_user())
    response = client.get(reverse("home"))
    assert response.status_code == 302 and response["Location"] == reverse(target)


def test_home_sends_anonymous_users_to_login(client, db):
    """`/` asks anonymous users to log in first."""
    response = client.get(reverse("home"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_base_layout_carries_csrf_token_for_htmx(client, researcher):
    """Every page puts the CSRF token in htmx's headers and loads htmx from our own static files."""
    client.force_login(researcher)
    html = client.get(reverse("annotation:project_list")).content.decode()
    assert "hx-headers='{\"X-CSRFToken\": \"" in html
    assert "/static/django_htmx/htmx-2" in html
    assert "http://" not in html and "https://" not in html  # no CDN


def test_annotator_home_lists_their_projects_and_says_no_tasks_yet(client, project, annotator_member):
    """An annotator sees the projects they annotate, each saying plainly that no tasks are enabled yet."""
    other = ProjectFactory(name="Not theirs")
    client.force_login(annotator_member)
    html = client.get(reverse("annotation:annotator_home")).content.decode()
    assert project.name in html
    assert other.name not in html
    assert "No tasks are enabled for this project yet" in html


# ------------------------------------------------------------------------------------------------ projects


def test_project_list_shows_managed_projects_only(client, researcher, project):
    """A researcher's list holds the projects they manage, not other researchers' projects."""
    other = ProjectFactory(name="Other lab project")
    client.force_login(researcher)
    html = client.get(reverse("annotation:project_list")).content.decode()
    assert project.name in html and other.name not in html


def test_admin_sees_every_project(client, project):
    """An admin's project list holds every project."""
    other = ProjectFactory(name="Other lab project")
    client.force_login(AnnotatorFactory(is_superuser=True))
    html = client.get(reverse("annotation:project_list")).content.decode()
    assert project.name in html and other.name in html


def test_create_project_makes_slug_and_creator_researcher(client, researcher):
    """Creating a project with a blank slug makes one from the name; the creator becomes its researcher."""
    client.force_login(researcher)
    response = client.post(reverse("annotation:project_create"), {"name": "Blur study 2", "slug": "", "description": "d"})
    project = Project.objects.get(name="Blur study 2")
    assert response.status_code == 302
    assert response["Location"] == reverse("annotation:project_detail", kwargs={"project_id": project.pk})
    assert project.slug == "blur-study-2"
    assert Membership.objects.get(project=project, user=researcher).role == Membership.Role.RESEARCHER


def test_create_project_numbers_a_taken_auto_slug_and_rejects_a_taken_explicit_one(client, researcher):
    """A made-up slug that is taken gets a number; a slug typed in that is taken is an error on the form."""
    ProjectFactory(slug="koniq")
    client.force_login(researcher)
    client.post(reverse("annotation:project_create"), {"name": "KonIQ"})
    assert Project.objects.filter(slug="koniq-2").exists()
    response = client.post(reverse("annotation:project_create"), {"name": "Another", "slug": "koniq"})
    assert response.status_code == 200
    assert "already taken" in response.content.decode()
    assert not Project.objects.filter(name="Another").exists()


def test_create_project_needs_a_name(client, researcher):
    """A project without a name is not created; the form says why."""
    client.force_login(researcher)
    response = client.post(reverse("annotation:project_create"), {"name": ""})
    assert response.status_code == 200 and b"This field is required" in response.content
    assert not Project.objects.filter(created_by=researcher).exists()


def test_project_detail_shows_image_grid_and_import_history(client, researcher, project):
    """The project page shows each image's name, dimensions, format, source, MOS and reference, and the imports."""
    reference = image_import(project=project, name="ref.png", data=image_bytes(seed=1)).image
    image = image_import(project=project, name="blurred.png", data=image_bytes(size=(80, 60), seed=2)).image
    Image.objects.filter(pk=image.pk).update(
        source_dataset="KADID-10k", reference=reference, mos_raw=4.0, mos_scale_min=1, mos_scale_max=5, mos_normalised=75.0
    )
    batch = ImportBatch.objects.create(project=project, created_by=researcher, source=ImportBatch.Source.UPLOAD, imported_count=2)
    client.force_login(researcher)
    html = client.get(reverse("annotation:project_detail", kwargs={"project_id": project.pk})).content.decode()
    assert "blurred.png" in html and "80×60" in html and "PNG" in html and "KADID-10k" in html
    assert "MOS 75.0 / 100" in html
    assert reverse("annotation:image_detail", kwargs={"image_id": reference.pk}) in html
    assert reverse("annotation:image_thumbnail", kwargs={"image_id": image.pk}) in html
    assert reverse("annotation:import_detail", kwargs={"batch_id": batch.pk}) in html


def test_project_detail_paginates_images(client, researcher, project):
    """The grid shows a page of images at a time."""
    from annotation.views.projects import IMAGES_PER_PAGE

    for seed in range(IMAGES_PER_PAGE + 1):
        image_import(project=project, name=f"img{seed:03d}.png", data=image_bytes(seed=seed))
    client.force_login(researcher)
    url = reverse("annotation:project_detail", kwargs={"project_id": project.pk})
    first = client.get(url).content.decode()
    second = client.get(url + "?page=2").content.decode()
    last_name = f"img{IMAGES_PER_PAGE:03d}.png"
    assert last_name not in first and last_name in second
    assert "Page 2 of 2" in second


def test_image_detail_shows_hidden_ground_truth_to_researchers(client, researcher, project):
    """The researcher's image page shows all metadata, hidden ground truth included."""
    image = image_import(project=project, name="a.png", data=image_bytes(seed=3)).image
    Image.objects.filter(pk=image.pk).update(
        hidden_ground_truth={"distortion": "gaussian_blur", "severity": 3}, attributes={"scene": "street"}
    )
    client.force_login(researcher)
    html = client.get(reverse("annotation:image_detail", kwargs={"image_id": image.pk})).content.decode()
    assert "gaussian_blur" in html and "severity" in html and "street" in html
    assert image.content_hash in html


def test_researcher_gets_404_for_a_missing_project_and_for_someone_elses(client, researcher):
    """A project that does not exist and one they have no role in answer alike (404): ids reveal nothing."""
    other = ProjectFactory()
    client.force_login(researcher)
    assert client.get(reverse("annotation:project_detail", kwargs={"project_id": other.pk + 1000})).status_code == 404
    assert client.get(reverse("annotation:project_detail", kwargs={"project_id": other.pk})).status_code == 404


def test_annotator_gets_403_on_their_project_and_404_elsewhere(client, annotator):
    """An annotator member is refused a researcher page (403); a project they have no role in, or none, is 404."""
    mine = MembershipFactory(user=annotator).project
    client.force_login(annotator)
    assert client.get(reverse("annotation:project_detail", kwargs={"project_id": mine.pk})).status_code == 403
    assert client.get(reverse("annotation:project_detail", kwargs={"project_id": ProjectFactory().pk})).status_code == 404
    assert client.get(reverse("annotation:project_detail", kwargs={"project_id": 999999})).status_code == 404


# ------------------------------------------------------------------------------------------------- members


def test_add_member_by_username(client, researcher, project):
    """A researcher adds an existing account as annotator by typing its username."""
    newcomer = AnnotatorFactory(username="alice")
    client.force_login(researcher)
    url = reverse("annotation:project_members", kwargs={"project_id": project.pk})
    response = client.post(url, {"username": "Alice", "role": "annotator"})
    assert response.status_code == 302
    assert Membership.objects.get(project=project, user=newcomer).role == Membership.Role.ANNOTATOR
    page = client.get(url).content.decode()
    assert "alice" in page
    assert "alice is now an annotator of this project." in page and "a annotator" not in page  # issue 17, bug 7


def test_add_member_reports_unknown_username_and_annotator_account_as_researcher(client, researcher, project):
    """Unknown usernames, and annotator accounts offered as researchers, are refused on the form."""
    AnnotatorFactory(username="bob")
    client.force_login(researcher)
    url = reverse("annotation:project_members", kwargs={"project_id": project.pk})
    unknown = client.post(url, {"username": "nobody", "role": "annotator"}).content.decode()
    assert "There is no account named" in unknown
    wrong_role = client.post(url, {"username": "bob", "role": "researcher"}).content.decode()
    assert "only researcher accounts can be researcher members" in wrong_role
    assert not Membership.objects.filter(project=project, user__username="bob").exists()


def test_remove_member_and_keep_the_last_researcher(client, researcher, project, annotator_member):
    """Removing an annotator works; removing the only researcher is refused with a message."""
    client.force_login(researcher)
    annotator_membership = Membership.objects.get(project=project, user=annotator_member)
    own = Membership.objects.get(project=project, user=researcher)
    remove = lambda m: client.post(  # noqa: E731
        reverse("annotation:membership_remove", kwargs={"project_id": project.pk, "membership_id": m.pk}), follow=True
    )
    remove(annotator_membership)
    assert not Membership.objects.filter(pk=annotator_membership.pk).exists()
    response = remove(own)
    assert "only researcher" in response.content.decode()
    assert Membership.objects.filter(pk=own.pk).exists()


def test_remove_member_of_another_project_is_404(client, researcher, project):
    """A membership id from another project cannot be removed through this project's URL."""
    foreign = MembershipFactory()
    client.force_login(researcher)
    url = reverse("annotation:membership_remove", kwargs={"project_id": project.pk, "membership_id": foreign.pk})
    assert client.post(url).status_code == 404
    assert Membership.objects.filter(pk=foreign.pk).exists()


# ------------------------------------------------------------------------------------------------- imports


def test_import_page_queues_a_batch_and_redirects_to_its_report(client, researcher, project, django_capture_on_commit_callbacks):
    """Posting files creates an upload batch with the options given, queues it, and opens its report page."""
    client.force_login(researcher)
    files = [_upload("a.png", image_bytes(seed=1)), _upload("b.png", image_bytes(seed=2))]
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(
            reverse("annotation:import_create", kwargs={"project_id": project.pk}),
            {"files": files, "mos_min": "1", "mos_max": "5", "source_dataset": "KonIQ-10k"},
        )
    batch = ImportBatch.objects.get(project=project)
    assert response.status_code == 302
    assert response["Location"] == reverse("annotation:import_detail", kwargs={"batch_id": batch.pk})
    assert batch.source == ImportBatch.Source.UPLOAD and batch.created_by == researcher
    assert batch.options == {"mos_scale": [1.0, 5.0], "source_dataset": "KonIQ-10k"}
    assert len(callbacks) == 1  # the worker task, sent once the batch is committed


def test_import_page_keeps_the_dmos_option(client, researcher, project, django_capture_on_commit_callbacks):
    """Ticking "Lower scores are better (DMOS)" records it on the batch, and its report page says so."""
    client.force_login(researcher)
    with django_capture_on_commit_callbacks():
        response = client.post(
            reverse("annotation:import_create", kwargs={"project_id": project.pk}),
            {"files": [_upload("a.png", image_bytes(seed=3))], "mos_min": "0", "mos_max": "100", "mos_lower_is_better": "on"},
        )
    batch = ImportBatch.objects.get(project=project)
    assert batch.options == {"mos_scale": [0.0, 100.0], "mos_lower_is_better": True}
    assert "scores are DMOS (lower is better), flipped" in client.get(response["Location"]).content.decode()


@pytest.mark.parametrize(
    "data, message",
    [
        ({}, "Choose at least one image or zip file"),
        ({"mos_min": "5", "mos_max": "1"}, "must be below its maximum"),
        ({"mos_min": "1"}, "Give both ends of the MOS scale"),
        ({"mos_min": "low", "mos_max": "5"}, "Enter a number"),
    ],
)
def test_import_page_rejects_bad_input(client, researcher, project, data, message):
    """No files, a MOS scale upside down, half a scale or a non-number re-render the form with the reason."""
    client.force_login(researcher)
    if data:
        data = {**data, "files": [_upload("a.png", image_bytes(seed=1))]}
    response = client.post(reverse("annotation:import_create", kwargs={"project_id": project.pk}), data)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not ImportBatch.objects.filter(project=project).exists()


def test_import_report_after_the_worker_ran(client, researcher, project):
    """Images, a zip, a duplicate and a broken file: the report page counts them and lists problems first."""
    image_import(project=project, name="already.png", data=image_bytes(seed=9))
    client.force_login(researcher)
    files = [
        _upload("a.png", image_bytes(seed=1)),
        _upload("more.zip", zip_bytes({"b.png": image_bytes(seed=2), "c.png": image_bytes(seed=3)}), "application/zip"),
        _upload("again.png", image_bytes(seed=9)),
        _upload("broken.png", b"not an image at all"),
    ]
    client.post(reverse("annotation:import_create", kwargs={"project_id": project.pk}), {"files": files})
    batch = ImportBatch.objects.get(project=project)
    import_batch_process_staged(batch_id=batch.pk)  # what the worker runs
    batch.refresh_from_db()
    assert (batch.status, batch.imported_count, batch.duplicate_count, batch.error_count) == ("done", 3, 1, 1)

    html = client.get(reverse("annotation:import_detail", kwargs={"batch_id": batch.pk})).content.decode()
    assert 'data-testid="imported-count">3<' in html and 'data-testid="error-count">1<' in html
    assert html.index("broken.png") < html.index("again.png") < html.index("a.png")
    assert "hx-trigger" not in html  # finished: no more polling
    project_html = client.get(reverse("annotation:project_detail", kwargs={"project_id": project.pk})).content.decode()
    assert "b.png" in project_html and "c.png" in project_html


def test_import_report_polls_while_queued_and_serves_a_fragment_to_htmx(client, researcher, project):
    """A queued import's page polls every second; htmx's request gets only the status fragment back."""
    batch = ImportBatch.objects.create(project=project, created_by=researcher, source=ImportBatch.Source.UPLOAD)
    client.force_login(researcher)
    url = reverse("annotation:import_detail", kwargs={"batch_id": batch.pk})
    page = client.get(url).content.decode()
    assert 'hx-trigger="every 1s"' in page and f'hx-get="{url}"' in page
    fragment = client.get(url, headers={"HX-Request": "true"}).content.decode()
    assert "<html" not in fragment
    assert 'id="import-status"' in fragment

    ImportBatch.objects.filter(pk=batch.pk).update(status=ImportBatch.Status.FAILED, error="The uploaded files are gone")
    fragment = client.get(url, headers={"HX-Request": "true"}).content.decode()
    assert "hx-trigger" not in fragment and "The uploaded files are gone" in fragment


# ----------------------------------------------------------------------------------------------- image files


def test_image_file_and_thumbnail_are_served_to_the_projects_researcher(client, project, researcher):
    """The researcher who manages the project gets the original bytes with their type, and a JPEG thumbnail."""
    data = image_bytes(seed=5)
    image = image_import(project=project, name="a.png", data=data).image
    client.force_login(researcher)
    original = client.get(reverse("annotation:image_file", kwargs={"image_id": image.pk}))
    assert original.status_code == 200 and original["Content-Type"] == "image/png"
    assert b"".join(original.streaming_content) == data
    assert "private" in original["Cache-Control"]
    thumbnail = client.get(reverse("annotation:image_thumbnail", kwargs={"image_id": image.pk}))
    assert thumbnail["Content-Type"] == "image/jpeg"
    assert b"".join(thumbnail.streaming_content)[:2] == b"\xff\xd8"


def test_an_annotator_gets_their_items_image_by_its_signed_link_not_by_id(client, project, annotator_member):
    """An annotator member is refused the id-based file and thumbnail (403), and gets the same bytes through the signed
    link of the lease they hold."""
    data = image_bytes(seed=7)
    image = image_import(project=project, name="b.png", data=data).image
    project_settings_update(project, task_kinds=[TaskKind.RATING], training_required=False, gold_rate=0.0)
    lease = assignment_next(project=project, annotator=annotator_member).lease
    assert lease.item.image_id == image.pk
    client.force_login(annotator_member)
    for name in ("annotation:image_file", "annotation:image_thumbnail"):
        assert client.get(reverse(name, kwargs={"image_id": image.pk})).status_code == 403
    signed = client.get(lease_image_urls(lease)["left"])
    assert signed.status_code == 200 and b"".join(signed.streaming_content) == data


def test_image_file_missing_is_404(client, annotator):
    """An image id that does not exist is 404."""
    client.force_login(annotator)
    assert client.get(reverse("annotation:image_file", kwargs={"image_id": 424242})).status_code == 404


def test_media_is_not_served_publicly(client, project, researcher):
    """The stored file's media path answers 404 even to its project's researcher: only the checked views serve it."""
    image = image_import(project=project, name="a.png", data=image_bytes(seed=6)).image
    client.force_login(researcher)
    assert client.get("/media/" + image.file.name).status_code == 404


# ------------------------------------------------------------------------------------------------- workers


def test_workers_page_lists_reports_and_asks_for_one(client, researcher, monkeypatch):
    """The Workers page lists device reports; its button asks a GPU worker for a fresh one."""
    DeviceReport.objects.create(hostname="gpu-box-1", torch_version="2.5", cuda_available=True, device_name="NVIDIA H100")
    asked = []
    monkeypatch.setattr("modeling.views.device_report_request", lambda: asked.append(True))
    client.force_login(researcher)
    html = client.get(reverse("workers")).content.decode()
    assert "gpu-box-1" in html and "NVIDIA H100" in html
    response = client.post(reverse("workers"), follow=True)
    assert asked == [True]
    assert "Asked a GPU worker" in response.content.decode()
