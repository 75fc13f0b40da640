"""Every route is classified, and each class of route turns away whoever it must: built from the URL patterns.

The matrix: anonymous users go to the login page (pages) or get 401 (API); a signed-in user with no role in the
project of the object in the URL gets 404, as for an id that does not exist; a member without the right role 403.
"""
import uuid

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from rest_framework.authtoken.models import Token

from annotation.image_links import lease_image_urls
from annotation.models import ImportBatch, Membership, TextRevision
from annotation.services.imports import image_import
from annotation.services.queue import assignment_next, judgement_submit
from annotation.services.work import project_settings_update
from annotation.vocabulary import TaskKind
from exports.services import export_job_create, export_job_run
from modeling.assist.models import VQAItem
from modeling.critic.models import CriticVersion, GeneralDataUpload
from tests.studies.builders import study_world
from tests.system_benchmarks.builders import benchmark_world
from tests.factories import AnnotatorFactory, MembershipFactory, ProjectFactory, ResearcherFactory, image_bytes

# Researchers (and admins) only; those with a project in the URL only for researchers who manage it.
RESEARCHER_ONLY = {
    "annotation:project_list",
    "annotation:project_create",
    "annotation:project_detail",
    "annotation:project_members",
    "annotation:membership_remove",
    "annotation:import_create",
    "annotation:import_detail",
    "annotation:image_detail",
    "annotation:image_file",  # annotators reach images only by their leases' signed links (SIGNED_HOLDER)
    "annotation:image_thumbnail",
    "annotation:project_annotation_settings",
    "annotation:project_judgements",
    "annotation:project_gold",
    "evaluation:project_scores",
    "evaluation:project_scores_csv",
    "evaluation:pair_queue",
    "evaluation:project_quality",
    "evaluation:project_quality_exclusion",
    "api:project_quality",
    "api:project_quality_exclusion",
    "workers",
    "api:project_list",
    "api:project_detail",
    "api:project_images",
    "api:import_create",
    "api:import_detail",
    "api:project_scores",
    "api:project_scores_recompute",
    "api:project_progress",
    "api:project_settings",
    "api:gold_create",
    "api:pairs_generate",
    "modeling:llm_revisions",
    "modeling:llm_prompts",
    "modeling:llm_prompt_new",
    "modeling:llm_usage",
    "modeling:llm_vqa",
    "modeling:llm_vqa_review",
    "modeling:llm_vqa_export",
    "api:revision_stats",
    "api:vqa_list",
    "api:vqa_review",
    "api:vqa_export",
    # The critic (another engineer's routes, classified here by their permission classes: all ProjectResearcherMixin
    # or IsProjectResearcher).
    "critic:index",
    "critic:retrain",
    "critic:rollback",
    "critic:version",
    "critic:cancel",
    "critic:promote",
    "critic:score",
    "critic:retry",
    "critic:construct",
    "critic:general_upload",
    "critic:general_delete",
    "critic:texts",
    "critic:generate",
    "critic_api:critic_versions",
    "critic_api:critic_retrain",
    "critic_api:critic_promote",
    "critic_api:critic_cancel",
    "exports:export_list",
    "exports:export_status",
    "exports:export_download",
    "api:export_list",
    "api:export_detail",
    "api:export_download",
}
# Annotators may open these (each still checks who: signed in, or a member of the image's project).
ANNOTATOR_ALLOWED = {
    "home",
    "annotation:annotator_home",
    "api_schema",
    "api_docs",
    "api:judgement_list",  # a researcher who manages the project sees all judgements, an annotator member their own
    "api:revision_list",  # likewise for text revisions
}
# Annotator members of the project in the URL only: its researchers get 403, users outside the project 404.
PROJECT_ANNOTATOR = {
    "annotation:annotate",
    "annotation:annotate_item",
    "annotation:annotate_kind",
    "annotation:annotate_submit",
    "annotation:annotate_release",
    "annotation:training",
    "annotation:training_item",
    "annotation:training_restart",
    "annotation:revision_panel",
    "annotation:revision_save",
    "api:assignment_next",
    "api:training_status",
    "api:training_next",
    "api:training_restart",
}
# A lease's (or a text revision's) holder only: to anyone else it does not exist (404, so ids leak nothing).
LEASE_HOLDER = {"api:judgement_submit", "api:lease_release", "api:revision"}
# Opaque signed image URLs (annotation/image_links.py): the user (session or token) they were made for only; to anyone
# else, anonymous included, a plain 404 (no login redirect: API clients load them with their token).
SIGNED_HOLDER = {"annotation:image_signed"}
# Open to anonymous users: signing in and out, and trading a password for an API token.
PUBLIC = {"login", "logout", "api_token"}
# Any signed-in user, for their own credentials (POST only): rotating their API token, signing out a token client.
SIGNED_IN_POST = {"api_token_rotate", "api_logout"}
# Side-by-side studies (the studies app): researchers run them; assigned annotators vote by opaque trial token.
RESEARCHER_ONLY |= {
    "studies:study_list", "studies:study_create", "studies:study_detail", "studies:system_add", "studies:system_retry",
    "studies:trials_generate", "studies:study_results", "studies:study_results_csv", "studies:study_results_json", "studies:study_judge",
    "api:study_list", "api:study_detail", "api:study_results", "api:study_judge",
    "api:study_system_import", "api:study_system_critic", "api:study_system_endpoint", "api:study_system_retry", "api:study_annotators",
}
ANNOTATOR_ALLOWED |= {"studies:my_studies"}
PROJECT_ANNOTATOR |= {"studies:vote", "api:study_trial_next"}
LEASE_HOLDER |= {"api:study_vote"}
# System benchmarks (the system_benchmarks app): researchers who manage the project only (ProjectResearcherMixin /
# IsProjectResearcher); runs and challenge sets of another project are 404.
RESEARCHER_ONLY |= {
    "benchmarks:index", "benchmarks:create", "benchmarks:run", "benchmarks:run_cancel", "benchmarks:run_resume",
    "benchmarks:run_csv", "benchmarks:run_json", "benchmarks:run_calls_csv", "benchmarks:challenge_create", "benchmarks:challenge",
    "benchmarks:challenge_csv", "benchmarks:challenge_json",
    "benchmarks_api:benchmark_runs", "benchmarks_api:benchmark_run", "benchmarks_api:benchmark_cancel",
    "benchmarks_api:benchmark_resume", "benchmarks_api:challenge_create", "benchmarks_api:challenge_set",
}
# Accounts (accounts/urls.py): a researcher who manages the project invites people, and makes reset links for and
# deactivates its annotator members; anyone signed in changes their own password; the links themselves are public.
RESEARCHER_ONLY |= {"invitation_create", "password_reset_link", "user_deactivate"}
ANNOTATOR_ALLOWED |= {"password_change", "password_change_done"}
PUBLIC |= {"invitation_accept", "password_reset_confirm", "password_reset_complete"}
# The site icon browsers ask for (config/favicon.py): a static file, public like the others.
PUBLIC |= {"favicon"}
# Crowd entry links (the crowd app): the researcher who manages the project sets the link up and decides on
# participants; the entry link itself is public (a closed or unknown link is 404); undo is the annotator's own.
RESEARCHER_ONLY |= {"crowd:project", "crowd:participants_csv", "crowd:decide"}
PUBLIC |= {"crowd:entry"}
PROJECT_ANNOTATOR |= {"annotation:annotate_undo", "api:judgement_undo"}
# Django's admin site, which lets in staff only; its routes are classified by their prefix.
ADMIN_PREFIX = "admin/"

API_PREFIX = "api/"


def _routes(resolver=None, prefix: str = "", namespace: str | None = None):
    """Yield (name, route, pattern) for every URL pattern, with namespaced names."""
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            inner = entry.namespace
            joined = f"{namespace}:{inner}" if namespace and inner else (inner or namespace)
            yield from _routes(entry, prefix + str(entry.pattern), joined)
        elif isinstance(entry, URLPattern):
            name = f"{namespace}:{entry.name}" if namespace and entry.name else entry.name
            yield name, prefix + str(entry.pattern), entry


def _route_by_name(name: str):
    for route_name, route, pattern in _routes():
        if route_name == name:
            return route, pattern
    raise AssertionError(f"no route named {name}")


def test_every_route_is_classified():
    """A new route fails this test until it is put in one of the classes above (and so gets tested)."""
    classified = RESEARCHER_ONLY | ANNOTATOR_ALLOWED | PROJECT_ANNOTATOR | LEASE_HOLDER | SIGNED_HOLDER | PUBLIC | SIGNED_IN_POST
    unclassified = []
    for name, route, _ in _routes():
        if route.startswith(ADMIN_PREFIX):
            continue
        if name is None or name not in classified:
            unclassified.append(f"{route} (name={name})")
    assert not unclassified, "Routes missing from the permission classes in test_permissions.py: " + ", ".join(unclassified)


def test_classification_has_no_stale_names():
    """Every classified name is a real route, so a renamed route cannot silently drop out of the tests."""
    names = {name for name, _, _ in _routes()}
    assert (RESEARCHER_ONLY | ANNOTATOR_ALLOWED | PROJECT_ANNOTATOR | LEASE_HOLDER | SIGNED_HOLDER | PUBLIC | SIGNED_IN_POST) - names == set()


def test_no_public_media_route():
    """Media is only reachable through the permission-checked image views, never as a static route."""
    routes = [route for _, route, _ in _routes()]
    assert not any(route.startswith("media") for route in routes)


DESCRIPTION_ANSWER = {
    "texture_category": "bricks", "texture_condition": "clear", "overall": "mild",
    "distortions": {"brightness": "undistorted", "color": "mild", "noise": "undistorted", "artifacts": "undistorted", "blurriness": "mild"},
}


@pytest.fixture
def world(project, researcher, annotator_member):
    """A project with one image, one import and an annotator member: an id for every URL kwarg.

    The member has answered a description questionnaire (so they own a text revision, and a VQA item hangs off
    that judgement) and holds a lease on a rating item.
    """
    image = image_import(project=project, name="cat.png", data=image_bytes(seed=1)).image
    batch = ImportBatch.objects.create(project=project, created_by=researcher, source=ImportBatch.Source.UPLOAD)
    membership = Membership.objects.get(project=project, user=annotator_member)
    project_settings_update(project, task_kinds=[TaskKind.DESCRIPTION], training_required=False, gold_rate=0.0)
    described = assignment_next(project=project, annotator=annotator_member).lease
    judgement = judgement_submit(lease_id=described.pk, annotator=annotator_member, client_id=uuid.uuid4(), answer=DESCRIPTION_ANSWER).judgement
    vqa_item = VQAItem.objects.create(project=project, source_judgement=judgement, kind=VQAItem.Kind.YES_NO, question="Is it sharp?", answer="no")
    project_settings_update(project, task_kinds=[TaskKind.RATING])
    lease = assignment_next(project=project, annotator=annotator_member).lease
    return {
        "project_id": project.pk,
        "image_id": image.pk,
        "batch_id": batch.pk,
        "membership_id": membership.pk,
        "lease_id": lease.pk,
        "signed": lease_image_urls(lease)["left"].strip("/").rsplit("/", 1)[1],
        "revision_id": TextRevision.objects.get(judgement=judgement).pk,
        "vqa_item_id": vqa_item.pk,
        "name": "description_paragraph",
        "version_id": CriticVersion.objects.create(project=project, number=1, base_model_dir="unused").pk,
        "upload_id": GeneralDataUpload.objects.create(project=project, name="g.zip", folder="general_data/none", json_name="data.json",
                                                      n_records=1, n_images=0, size_bytes=1).pk,
        # A finished export (written here, synchronously), so that its download answers 200 to whoever may have it.
        "export_id": export_job_run(job_id=export_job_create(project=project, requested_by=researcher, formats=["pairs"]).pk).pk,
        **study_world(project=project, researcher=researcher, annotator=annotator_member),  # study_id, system_id, token
        **benchmark_world(project=project),  # benchmark_run_id, challenge_set_id
        "participant_id": _crowd_participant(project).pk,
    }


def _crowd_participant(project):
    """A crowd participant of the project (its own annotator account), for the crowd app's researcher routes."""
    from crowd.services import EntryIds, crowd_link_update, crowd_participant_enter

    link = crowd_link_update(project=project, enabled=True, platform="prolific", items_required=1, completion_code="C1")
    return crowd_participant_enter(link=link, ids=EntryIds(worker_id="worker1", others={}))[0]


def _url(name: str, world: dict) -> str:
    _, pattern = _route_by_name(name)
    kwargs_needed = set(pattern.pattern.converters)
    missing = kwargs_needed - set(world)
    assert not missing, f"the `world` fixture has no id for URL kwargs {missing} of {name}"
    return reverse(name, kwargs={key: world[key] for key in kwargs_needed})


def _is_api(name: str) -> bool:
    route, _ = _route_by_name(name)
    return route.startswith(API_PREFIX)


@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.parametrize("name", sorted(RESEARCHER_ONLY))
def test_annotator_member_gets_403_on_researcher_routes(client, world, annotator_member, name, method):
    """An annotator gets 403 from every researcher page and endpoint, even on a project they annotate."""
    client.force_login(annotator_member)
    response = getattr(client, method)(_url(name, world))
    assert response.status_code == 403, (name, method, response.status_code)


@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.parametrize("name", sorted(RESEARCHER_ONLY))
def test_anonymous_is_sent_to_login_or_refused_on_researcher_routes(client, world, name, method):
    """Anonymous users are redirected to the login page (pages) or refused with 401 and how to authenticate (API)."""
    url = _url(name, world)
    response = getattr(client, method)(url)
    if _is_api(name):
        assert response.status_code == 401, (name, method, response.status_code)
        assert response["WWW-Authenticate"] == "Token"
    else:
        assert response.status_code == 302, (name, method, response.status_code)
        assert response["Location"].startswith(reverse("login") + "?next=")


# Every id in a URL names something of one project (a project, image, import, study, export, run...).
PROJECT_SCOPED = sorted(name for name in RESEARCHER_ONLY if _route_by_name(name)[1].pattern.converters)


@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.parametrize("name", PROJECT_SCOPED)
def test_user_outside_the_project_gets_404_on_researcher_routes(client, world, name, method):
    """A researcher or an annotator of another project gets 404 from every page and endpoint about this one, as
    for an id that does not exist: which ids exist elsewhere is not told."""
    for outsider in (ResearcherFactory(), AnnotatorFactory()):
        client.force_login(outsider)
        response = getattr(client, method)(_url(name, world))
        assert response.status_code == 404, (name, method, outsider, response.status_code)


@pytest.mark.parametrize("name", sorted(RESEARCHER_ONLY))
def test_admin_reaches_every_researcher_route(client, world, name):
    """A superuser (whatever their role) may open every researcher page and read every endpoint."""
    admin = AnnotatorFactory(is_superuser=True, is_staff=True)
    client.force_login(admin)
    response = client.get(_url(name, world))
    # 405: a POST-only route, reached past its permission check.
    assert response.status_code in (200, 405), (name, response.status_code)


@pytest.mark.parametrize("name", ["annotation:image_file", "annotation:image_thumbnail"])
def test_image_files_by_id_are_for_the_projects_researchers_only(client, world, researcher, annotator_member, name):
    """By image id: the project's researcher gets the file; an annotator member 403 even for the image their own lease
    shows (which they get through its signed link); a researcher of another project 404."""
    url = reverse(name, kwargs={"image_id": world["image_id"]})
    client.force_login(researcher)
    assert client.get(url).status_code == 200
    client.force_login(annotator_member)
    assert client.get(url).status_code == 403
    assert client.get(reverse("annotation:image_signed", kwargs={"signed": world["signed"]})).status_code == 200
    client.force_login(ResearcherFactory())
    assert client.get(url).status_code == 404


@pytest.mark.parametrize("name", ["annotation:image_file", "annotation:image_thumbnail"])
def test_annotator_of_another_project_gets_404_for_its_images(client, world, annotator_member, name):
    """An annotator gets 404 for the image files of a project they have no role in (its ids leak nothing)."""
    other_project = ProjectFactory()
    other_image = image_import(project=other_project, name="dog.png", data=image_bytes(seed=2)).image
    client.force_login(annotator_member)
    assert client.get(reverse(name, kwargs={"image_id": other_image.pk})).status_code == 404


@pytest.mark.parametrize("name", ["annotation:image_file", "annotation:image_thumbnail"])
def test_anonymous_cannot_fetch_image_files(client, world, name):
    """Image files need a signed-in member: anonymous users are sent to the login page."""
    response = client.get(reverse(name, kwargs={"image_id": world["image_id"]}))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_annotator_allowed_routes_open_for_a_member(client, world, annotator_member):
    """Every annotator-allowed route answers an annotator member with a page, a file or a redirect to one."""
    client.force_login(annotator_member)
    for name in sorted(ANNOTATOR_ALLOWED):
        response = client.get(_url(name, world))
        assert response.status_code in (200, 302), (name, response.status_code)


@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.parametrize("name", sorted(PROJECT_ANNOTATOR))
def test_only_annotator_members_reach_annotator_routes(client, world, researcher, name, method):
    """An anonymous user is sent to sign in (401 from the API); the project's researcher gets 403, an annotator of
    another project 404."""
    url = _url(name, world)
    anonymous = getattr(client, method)(url)
    if _is_api(name):
        assert anonymous.status_code == 401, (name, method, anonymous.status_code)
    else:
        assert anonymous.status_code == 302 and anonymous["Location"].startswith(reverse("login")), name
    for outsider, status in ((researcher, 403), (AnnotatorFactory(), 404)):
        client.force_login(outsider)
        response = getattr(client, method)(url)
        assert response.status_code == status, (name, method, outsider, response.status_code)


@pytest.mark.parametrize("name", sorted(PROJECT_ANNOTATOR))
def test_annotator_member_reaches_annotator_routes(client, world, annotator_member, name):
    """A member gets a page, a redirect to one, or 405 from a POST-only route: never 403."""
    client.force_login(annotator_member)
    response = client.get(_url(name, world))
    assert response.status_code in (200, 302, 405), (name, response.status_code)


@pytest.mark.parametrize("name", sorted(LEASE_HOLDER))
def test_only_the_lease_holder_reaches_a_lease(client, world, researcher, name):
    """Anonymous users are refused; the project's researcher and another annotator get 404; the holder gets past."""
    url = _url(name, world)
    assert client.post(url).status_code == 401
    for outsider in (researcher, AnnotatorFactory()):
        client.force_login(outsider)
        body = {"client_id": str(uuid.uuid4()), "answer": {"level": 3}}
        assert client.post(url, body, content_type="application/json").status_code == 404, (name, outsider)


@pytest.mark.parametrize("name", sorted(SIGNED_HOLDER))
def test_only_the_user_a_signed_url_was_made_for_reaches_it(client, world, researcher, annotator_member, name):
    """Anonymous users, the project's researcher and another annotator get 404; the holder gets the file, signed in
    or with their API token (another user's token gets 404)."""
    url = _url(name, world)
    assert client.get(url).status_code == 404
    for outsider in (researcher, AnnotatorFactory()):
        assert client.get(url, HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=outsider).key}").status_code == 404
        client.force_login(outsider)
        assert client.get(url).status_code == 404, outsider
        assert client.post(url).status_code == 405
    client.logout()
    assert client.get(url, HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=annotator_member).key}").status_code == 200
    client.force_login(annotator_member)
    assert client.get(url).status_code == 200


def test_annotator_is_kept_out_of_the_admin(client, annotator):
    """Annotators are not staff: the admin site sends them to its login page."""
    client.force_login(annotator)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302
    assert reverse("admin:login") in response["Location"]


def test_public_routes_need_no_login(client, db):
    """The login page opens for anonymous users; logout and the token endpoint accept them without a redirect."""
    assert client.get(reverse("login")).status_code == 200
    assert client.post(reverse("logout")).status_code == 302  # back to the login page
    assert client.post(reverse("api_token"), {"username": "nobody", "password": "x"}).status_code == 400


@pytest.mark.parametrize("name", sorted(SIGNED_IN_POST))
def test_signed_in_routes_refuse_anonymous_and_answer_any_user(client, db, name):
    """Anonymous users get 401; any signed-in user, annotator or researcher, gets through."""
    assert client.post(reverse(name)).status_code == 401
    for user in (AnnotatorFactory(), ResearcherFactory()):
        client.force_login(user)
        assert client.post(reverse(name)).status_code in (200, 204), (name, user)
