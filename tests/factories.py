"""factory_boy factories shared by all tests."""
import io
import zipfile

import factory
from PIL import Image as PILImage

from accounts.models import Role, User
from annotation.models import Image, Membership, Project, WorkItem
from annotation.vocabulary import TaskKind

PASSWORD = "correct-horse-battery"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.org")
    role = Role.ANNOTATOR
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class ResearcherFactory(UserFactory):
    role = Role.RESEARCHER


class AnnotatorFactory(UserFactory):
    role = Role.ANNOTATOR


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Project {n}")
    slug = factory.Sequence(lambda n: f"project-{n}")
    created_by = factory.SubFactory(ResearcherFactory)

    @factory.post_generation
    def owner_membership(obj, create, extracted, **kwargs):
        if create:
            Membership.objects.get_or_create(project=obj, user=obj.created_by, defaults={"role": Membership.Role.RESEARCHER})


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    project = factory.SubFactory(ProjectFactory)
    user = factory.SubFactory(AnnotatorFactory)
    role = Membership.Role.ANNOTATOR


def image_bytes(*, size=(64, 48), color=(200, 100, 50), fmt="PNG", seed: int | None = None) -> bytes:
    """Encode a small real image; `seed` varies the pixels so that hashes differ."""
    img = PILImage.new("RGB", size, color)
    if seed is not None:
        img.putpixel((seed % size[0], (seed // size[0]) % size[1]), ((seed * 37) % 256, (seed * 11) % 256, 7))
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


def zip_bytes(members: dict[str, bytes]) -> bytes:
    """A zip archive holding `members` (name -> bytes)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


# --- The annotators' work -------------------------------------------------------------------


class ImageFactory(factory.django.DjangoModelFactory):
    """An image row without stored files (enough for queue tests; use image_import for real files)."""

    class Meta:
        model = Image

    project = factory.SubFactory(ProjectFactory)
    file = factory.Sequence(lambda n: f"images/test-{n}.png")
    thumbnail = factory.Sequence(lambda n: f"thumbnails/test-{n}.jpg")
    content_hash = factory.Sequence(lambda n: f"{n:064x}")
    original_name = factory.Sequence(lambda n: f"test-{n}.png")
    format = "PNG"
    width = 64
    height = 48
    file_size = 1000


class WorkItemFactory(factory.django.DjangoModelFactory):
    """A single-image WORK item (rating unless told)."""

    class Meta:
        model = WorkItem

    project = factory.SubFactory(ProjectFactory)
    kind = TaskKind.RATING
    purpose = WorkItem.Purpose.WORK
    image = factory.SubFactory(ImageFactory, project=factory.SelfAttribute("..project"))


class PairItemFactory(WorkItemFactory):
    """A comparison pair; image A is created first, so it has the lower id (the ordering constraint)."""

    kind = TaskKind.PAIR
    image_b = factory.SubFactory(ImageFactory, project=factory.SelfAttribute("..project"))


def annotators_add(project, count: int) -> list:
    """`count` new annotator members of `project`."""
    return [MembershipFactory(project=project, user=AnnotatorFactory()).user for _ in range(count)]
