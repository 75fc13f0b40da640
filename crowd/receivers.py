"""Receivers of the crowd app: thin, each calls one service or view helper (connected in crowd/apps.py)."""
from crowd.selectors import crowd_items_done, crowd_participant_of
from crowd.services import crowd_judgement_record
from crowd.views import completion_response


def judgement_saved_record_ids(sender, *, instance, created, raw=False, **kwargs) -> None:
    """A participant's judgement was written: keep the platform ids it was made under (same transaction)."""
    if created and not raw:
        crowd_judgement_record(judgement=instance)


def work_item_completion(sender, *, request, project, no_work, **kwargs):
    """A participant who has done their share (or finds no work left) gets the completion code instead of an item."""
    participant = crowd_participant_of(project=project, user=request.user)
    if participant is None:
        return None
    link = getattr(project, "crowd_link", None)
    if link is None:
        return None
    if not no_work and crowd_items_done(participant=participant) < link.items_required:
        return None
    return completion_response(request, participant=participant, link=link, no_work=no_work)
