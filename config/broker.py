"""kombu's filesystem transport, with messages that appear whole: the embedded default broker.

The stock transport creates `<time>_<uuid>.<queue>.msg` empty, then writes the message into it, while a consumer
moves and reads any `*.<queue>.msg` it sees without the writer's lock; a consumer that comes between the two
reads an empty file, and the worker dies on the JSON error (celery/kombu#1551). Here the message is written
under a name no consumer looks at and renamed into place (a rename is atomic on one filesystem).
"""
from __future__ import annotations

import os
import uuid
from time import monotonic

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        """Put `payload` onto `queue`: write `.<name>.part`, then rename it to `<name>` (what `_get` picks up)."""
        name = f"{int(round(monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        partial = os.path.join(self.data_folder_out, f".{name}.part")  # `_get` matches "<x>.<queue>.msg" only
        try:
            with open(partial, "wb") as handle:
                handle.write(str_to_bytes(dumps(payload)))
            os.replace(partial, final)
        except OSError as exc:
            try:
                os.remove(partial)
            except OSError:
                pass
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc


class Transport(filesystem.Transport):
    Channel = Channel
