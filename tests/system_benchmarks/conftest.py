"""Helpers for system benchmarks: a labelled project and scripted answers (the loopback server is tests/conftest.py's
`llm_server`)."""
from __future__ import annotations

from annotation.models import Image
from tests.llm_server import FakeLLMServer, Ok
from tests.work_data import project_images


def labelled(project, count: int = 12) -> list[Image]:
    """`count` images with MOS 0-100 (image i gets 5 + 8 i) and a spread, as a CSV import would set them."""
    images = project_images(project, count)
    for i, image in enumerate(images):
        Image.objects.filter(pk=image.pk).update(
            mos_raw=1 + 4 * (5 + 8 * i) / 100, mos_scale_min=1, mos_scale_max=5, mos_normalised=5 + 8 * i, mos_std=0.2 + 0.05 * (i % 3),
        )
    return images


def ideal_answer(call, mos: dict[int, float]) -> str:
    """What a perfect system would answer to `call` (in the format its prompting asks for)."""
    scores = [mos[i] for i in call.image_ids]
    cot = call.prompting == "chain_of_thought"
    if call.protocol == "single":
        return f"The image shows mild blur and no noise.\nScore: {scores[0]:.0f}" if cot else f"{scores[0]:.0f}"
    if call.protocol == "double":
        verdict = "Image A" if scores[0] > scores[1] else "Image B"
        return f"Image A has {scores[0]:.0f} sharpness cues.\nAnswer: {verdict}" if cot else verdict
    order = sorted(range(len(scores)), key=lambda k: -scores[k])
    ranking = " > ".join("ABCDEFGH"[k] for k in order)
    return f"Comparing all images...\nRanking: {ranking}" if cot else ranking


def script_run(server: FakeLLMServer, run, *, garbage_every: int = 0) -> list[str]:
    """Queue one answer per call of `run` in the order the worker asks them; every `garbage_every`-th is unparseable."""
    mos = {row["image_id"]: row["score"] for row in run.pool}
    answers = []
    for n, call in enumerate(run.calls.order_by("id"), start=1):
        text = "I am sorry, I cannot help with that." if garbage_every and n % garbage_every == 0 else ideal_answer(call, mos)
        answers.append(text)
    server.script(*[Ok(text) for text in answers])
    return answers
