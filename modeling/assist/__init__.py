"""The LLM's help: its Django-free client and prompts (:mod:`.core`), drafts, VQA items, LLM-written training answers."""
