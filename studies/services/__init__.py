"""Writes of the studies app: setting a study up (setup), generating answers (answers), voting (voting)."""


class StudyError(Exception):
    """A request the studies app refuses; `code` is stable (API clients switch on it), `status` the HTTP status."""

    code = "study_error"
    status = 400

    def __init__(self, message: str, *, errors: list[str] | None = None):
        super().__init__(message)
        self.message = message
        self.errors = errors or []
