"""Logging filters named in settings.LOGGING."""
import logging


class ClientErrorWithoutTraceback(logging.Filter):
    """A 4xx that django.request logs (a 403 from PermissionDenied, say) stays one line: its traceback says nothing
    about the server. 5xx keep theirs."""

    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        if isinstance(status, int) and status < 500:
            record.exc_info = None
            record.exc_text = None
        return True
