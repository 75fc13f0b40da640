"""The LLM side of Loupe without Django: client, prompt templates, output rules, offline drafter, drafting.

Issue 5. The Django side (models for template versions and revisions, Celery tasks, pages)
builds an :class:`~modeling.llm.client.LLMConfig` from settings and calls
:mod:`modeling.llm.drafting`; nothing here imports Django.
"""
