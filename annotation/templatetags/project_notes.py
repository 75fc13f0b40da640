"""`{% training_missing_note project %}`: the researcher's warning when a project asks for training it cannot give."""
from django import template

from annotation.services.training import training_missing

register = template.Library()


@register.inclusion_tag("annotation/_training_missing.html")
def training_missing_note(project) -> dict:
    return {"project": project, "missing": training_missing(project)}
