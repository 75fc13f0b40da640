"""Which pairs to ask next: the Django-free selector and critic prior (:mod:`.core`), the refill service, the pair-queue page."""
