"""Writes on projects and their members: create a project, add and remove members."""
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.text import slugify

from annotation.models import Membership, Project

_SLUG_MAX = Project._meta.get_field("slug").max_length


def _slug_free(slug: str) -> str:
    """The slug itself if unused, else the first of `slug-2`, `slug-3`, ... that is free."""
    candidate, number = slug, 1
    while Project.objects.filter(slug=candidate).exists():
        number += 1
        suffix = f"-{number}"
        candidate = f"{slug[: _SLUG_MAX - len(suffix)]}{suffix}"
    return candidate


@transaction.atomic
def project_create(*, user, name: str, slug: str = "", description: str = "") -> Project:
    """Create a project; its creator becomes its first researcher member.

    A blank slug is made from the name (and numbered if taken); a slug given explicitly must be free.
    """
    name = name.strip()
    if not name:
        raise ValidationError({"name": "A project needs a name."})
    if slug:
        if Project.objects.filter(slug=slug).exists():
            raise ValidationError({"slug": f"The slug “{slug}” is already taken."})
    else:
        base = slugify(name)[:_SLUG_MAX].strip("-") or "project"
        slug = _slug_free(base)
    try:
        # A savepoint, so that losing a race for the slug leaves the outer transaction usable.
        with transaction.atomic():
            project = Project.objects.create(name=name, slug=slug, description=description, created_by=user)
    except IntegrityError:
        raise ValidationError({"slug": f"The slug “{slug}” is already taken."}) from None
    Membership.objects.create(project=project, user=user, role=Membership.Role.RESEARCHER)
    return project


@transaction.atomic
def membership_add(*, project: Project, user, role: str) -> Membership:
    """Make `user` a member of `project` with `role`, or change the role of an existing member.

    Only researcher accounts can manage a project, so only they can become researcher members.
    """
    if role not in Membership.Role.values:
        raise ValidationError({"role": f"Unknown role {role!r}."})
    if not user.is_active:
        raise ValidationError({"username": f"{user.username} is deactivated."})
    if role == Membership.Role.RESEARCHER and not user.is_researcher:
        raise ValidationError(
            {"role": f"{user.username} has an annotator account; only researcher accounts can be researcher members."}
        )
    membership, created = Membership.objects.select_for_update().get_or_create(
        project=project, user=user, defaults={"role": role}
    )
    if not created and membership.role != role:
        _keep_one_researcher(project=project, leaving=membership)
        membership.role = role
        membership.save(update_fields=["role"])
    return membership


@transaction.atomic
def membership_remove(*, membership: Membership) -> None:
    """Remove a member from a project; the last researcher member cannot leave, or nobody would manage it."""
    _keep_one_researcher(project=membership.project, leaving=membership)
    membership.delete()


def _keep_one_researcher(*, project: Project, leaving: Membership) -> None:
    if leaving.role != Membership.Role.RESEARCHER:
        return
    # Lock the researcher rows so that two researchers removing each other cannot both succeed.
    researchers = list(
        Membership.objects.select_for_update()
        .filter(project=project, role=Membership.Role.RESEARCHER)
        .values_list("pk", flat=True)
    )
    if researchers == [leaving.pk]:
        raise ValidationError(f"{leaving.user.username} is the project's only researcher; add another researcher first.")


def membership_kind_choose(*, membership: Membership, kind: str) -> Membership:
    """Set the kind of task an annotator member works on; blank means mixed (every kind the researcher enabled)."""
    from annotation.vocabulary import TaskKind

    if kind and kind not in (membership.project.task_kinds or []):
        raise ValidationError({"kind": f"{TaskKind(kind).label if kind in TaskKind.values else kind!r} is not enabled in this project."})
    membership.preferred_kind = kind
    membership.save(update_fields=["preferred_kind"])
    return membership
