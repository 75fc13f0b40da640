"""The critic: its Django-free core (:mod:`.core`), versions and scores, training and scoring runs, tasks, pages and API."""
