"""The critic, conversation builders, active pair selection, the LLM client, and their Celery tasks."""
