"""The GPT4-score (paper 002) of a finished run's descriptions: its single-stimulus chain-of-thought answers.

A chain-of-thought answer describes the image's quality before it concludes on a score, so it can be judged like a
DepictQA description: against the image's human description (studies/services/judge.py: a saved description
paragraph, else pathway feedback), by the LLM judge through the configured endpoint under the egress policy.
The figure goes into the run's results as `gpt4_score` (recomputing the results after a resume drops it; judge again).
"""
from __future__ import annotations

from modeling.assist.core.errors import LLMBadResponse, LLMError
from studies.gpt4_score import JudgeReplyError, gpt4_score_judge, gpt4_score_relative
from studies.services.judge import JudgeEndpoint, JudgeUnavailable, human_references, judge_client
from system_benchmarks.models import BenchmarkCall, BenchmarkRun
from system_benchmarks.services.runs import BenchmarkError


def benchmark_run_gpt4_score(*, run_id: int, endpoint: JudgeEndpoint, client=None) -> dict:
    """Judge every answered single-stimulus chain-of-thought call of a done run; store and return the summary.

    Returns ``{"gpt4_score", "scored", "failed", "no_reference", "model", "stopped"}``: the GPT4-score in percent
    (None without a scored answer), answers scored, answers the judge could not read, answers whose image has no
    human description, the judge's model, and why judging stopped early ("" if it did not).

    Raises
    ------
    BenchmarkError
        The run is not done, or has no single-stimulus chain-of-thought answers.
    """
    run = BenchmarkRun.objects.select_related("project").get(pk=run_id)
    if run.status != BenchmarkRun.Status.DONE:
        raise BenchmarkError(f"run #{run.pk} is {run.get_status_display().lower()}: judge a done run")
    calls = list(run.calls.filter(protocol="single", prompting="chain_of_thought", status=BenchmarkCall.Status.ANSWERED).order_by("id"))
    if not calls:
        raise BenchmarkError("the run has no answered single-stimulus chain-of-thought calls (the ones that describe an image)")
    references = human_references(project=run.project, image_ids={call.image_ids[0] for call in calls})
    pairs, failed, stopped = [], 0, ""
    judged = [call for call in calls if call.image_ids[0] in references]
    own_client = client is None
    try:
        client = client or judge_client(endpoint)
        for call in judged:
            text, context = references[call.image_ids[0]]
            try:
                score = gpt4_score_judge(client, context=context, question=call.prompt, reference=text, answer=call.answer)
            except (JudgeReplyError, LLMBadResponse):
                failed += 1
                continue
            pairs.append((score.reference, score.answer))
    except JudgeUnavailable as error:
        stopped = str(error)
    except LLMError as error:
        stopped = f"The judge stopped: {error} {getattr(error, 'detail', '') or ''}".strip()
    finally:
        if own_client and client is not None:
            client.close()
    summary = {
        "gpt4_score": gpt4_score_relative(pairs), "scored": len(pairs), "failed": failed,
        "no_reference": len(calls) - len(judged), "model": endpoint.model, "stopped": stopped,
    }
    run.refresh_from_db(fields=["results"])
    BenchmarkRun.objects.filter(pk=run.pk).update(results={**(run.results or {}), "gpt4_score": summary})
    return summary
