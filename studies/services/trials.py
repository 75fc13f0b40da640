"""A study's trials: every item and pair of systems that both answered it."""
from __future__ import annotations

import itertools

from studies.models import Answer, Study, Trial


def study_trials_generate(*, study: Study) -> int:
    """A trial for every item and pair of systems that both answered it; existing trials are kept. Returns how many were added."""
    answered: dict[int, set[int]] = {}
    for system_id, item_id in Answer.objects.filter(system__study=study).values_list("system_id", "item_id"):
        answered.setdefault(item_id, set()).add(system_id)
    existing = set(Trial.objects.filter(study=study).values_list("item_id", "system_a_id", "system_b_id"))
    new = [
        Trial(study=study, item_id=item_id, system_a_id=a, system_b_id=b)
        for item_id, systems in answered.items()
        for a, b in itertools.combinations(sorted(systems), 2)
        if (item_id, a, b) not in existing
    ]
    Trial.objects.bulk_create(new, ignore_conflicts=True)
    return len(new)

