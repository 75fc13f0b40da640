"""The papers' training recipes as settings for one retrain: Q-SiT (001), VisualCritic (000, 003), DepictQA (002).

A recipe is a set of overrides of `training_settings_default` (modeling/critic/services.py): the `data`
section (CriticDataSettings), and for VisualCritic the stage list the training loop runs one after another
(`"stages": [{"name", "tasks", "max_steps", "learning_rate"}]`). The chosen recipe's name is kept in
`training_settings["recipe"]`, so a version's page says what it was trained with.
"""
from __future__ import annotations

from modeling.conversation_kinds import QSIT_GROUP_RATIOS

RECIPES = {
    "default": "Loupe's default (this deployment's settings)",
    "qsit": "Q-SiT recipe",
    "visualcritic": "VisualCritic recipe",
    "depictqa": "DepictQA recipe",
    "compose": "Compose (the options below)",
}

#: Paper 000, Sec. 3.3: relativity first, then absolute scores, then descriptions and authenticity.
VISUALCRITIC_STAGES = (
    ("relativity", ("relativity",)),
    ("absolute scores", ("scoring", "numeric")),
    ("descriptions and authenticity", ("description", "comparison_reasoning", "authenticity", "perception")),
)
#: Steps per stage when the defaults set no total (a real checkpoint trains one epoch).
STAGE_STEPS_WITHOUT_TOTAL = 1000


class RecipeError(ValueError):
    """A recipe name or option that does not exist (the message says which)."""


def visualcritic_stages(optimisation: dict) -> list[dict]:
    """The stage list for the training loop: the total steps split evenly, each stage at the base learning rate."""
    total = optimisation.get("max_steps")
    steps = max(1, int(total) // len(VISUALCRITIC_STAGES)) if total else STAGE_STEPS_WITHOUT_TOTAL
    rate = float(optimisation.get("learning_rate", 2e-4))
    return [{"name": name, "tasks": list(tasks), "max_steps": steps, "learning_rate": rate} for name, tasks in VISUALCRITIC_STAGES]


def recipe_overrides(recipe: str, *, defaults: dict, options: dict | None = None) -> dict:
    """The overrides of `defaults` (the default training settings) for one recipe.

    `options` (the Retrain form's cleaned fields) are used whole by "compose"; Q-SiT takes its group
    ratios and general data from them when given (the mix is configurable per retrain).

    Raises
    ------
    RecipeError
        An unknown recipe.
    """
    if recipe not in RECIPES:
        raise RecipeError(f"Unknown recipe {recipe!r}: choose one of {', '.join(RECIPES)}.")
    options = dict(options or {})
    if recipe == "default":
        return {"recipe": recipe}
    if recipe == "qsit":
        data = {
            "groups": options.get("groups") or dict(QSIT_GROUP_RATIOS), "curriculum": False, "perception": True,
            "level_bounds": "observed", "scoring_system_prompt": True, "answer_format": "levels", "brief_answers": False,
            "general_data": options.get("general_data", ""),
        }
        return {"recipe": recipe, "data": data}
    if recipe == "visualcritic":
        data = {"groups": None, "curriculum": True, "absolute_scores": "per_source", "answer_format": "both",
                "scoring_system_prompt": False, "brief_answers": False}
        return {"recipe": recipe, "data": data, "stages": visualcritic_stages(defaults.get("optimisation") or {})}
    if recipe == "depictqa":
        data = {"groups": None, "curriculum": False, "brief_answers": True, "answer_format": "levels",
                "mix": {"description": 0.3, "comparison_reasoning": 0.4, "scoring": 0.2, "relativity": 0.1}}
        return {"recipe": recipe, "data": data}
    stagewise = bool(options.pop("stagewise", False))
    data = {key: value for key, value in options.items() if value is not None}
    if data.get("groups"):
        data["curriculum"] = False
    out = {"recipe": recipe, "data": data}
    if stagewise:
        out["stages"] = visualcritic_stages(defaults.get("optimisation") or {})
    return out
