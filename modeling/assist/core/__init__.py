"""The LLM side of Loupe without Django: client, prompt templates, output rules, offline drafter, drafting.

The Django side (models for template versions and revisions, Celery tasks, pages)
builds an :class:`~modeling.assist.core.client.LLMConfig` from settings and calls
:mod:`modeling.assist.core.drafting`; nothing here imports Django.
"""
