"""The embedded broker (config/broker.py): a consumer never sees a message before it is whole."""
import builtins
import json
from queue import Empty

import pytest
from kombu import Connection
from kombu.transport import filesystem

import config.broker
from config.broker import Transport

PAYLOAD = {"body": "a message"}


def _channel(transport, folder):
    connection = Connection(
        transport=transport,
        transport_options={"data_folder_in": str(folder), "data_folder_out": str(folder), "store_processed": False},
    )
    return connection, connection.default_channel


def _consume_while_writing(monkeypatch, module, transport, folder):
    """Put one message; at the moment the producer writes its bytes, a consumer asks for the next message.

    Returns what the consumer got then (None: nothing), or the exception it raised.
    """
    producer_connection, producer = _channel(transport, folder)
    consumer_connection, consumer = _channel(transport, folder)
    seen = []

    class Spy:
        def __init__(self, handle):
            self.handle = handle

        def write(self, data):
            try:
                seen.append(consumer._get("q"))
            except Empty:
                seen.append(None)
            except Exception as error:  # what the stock transport's consumer hits
                seen.append(error)
            return self.handle.write(data)

        def __getattr__(self, name):
            return getattr(self.handle, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return self.handle.__exit__(*exc)

    monkeypatch.setattr(module, "open", lambda *args, **kwargs: Spy(builtins.open(*args, **kwargs)), raising=False)
    try:
        producer._put("q", PAYLOAD)
        monkeypatch.undo()
        after = consumer._get("q") if seen[0] is None else None
    finally:
        producer_connection.release()
        consumer_connection.release()
    return seen[0], after


def test_a_consumer_never_reads_a_message_being_written(tmp_path, monkeypatch):
    """Mid-write, the consumer finds no message; afterwards it reads the whole one, and no partial file is left."""
    during, after = _consume_while_writing(monkeypatch, config.broker, Transport, tmp_path)
    assert during is None and after == PAYLOAD
    assert not list(tmp_path.iterdir())


def test_kombus_own_filesystem_transport_reads_the_empty_file(tmp_path, monkeypatch):
    """Why config/broker.py exists (celery/kombu#1551): the stock transport's consumer reads the message file
    before its bytes are in and fails on the JSON; a Celery worker dies of it."""
    during, _ = _consume_while_writing(monkeypatch, filesystem, filesystem.Transport, tmp_path)
    assert isinstance(during, json.JSONDecodeError)


def test_the_celery_app_uses_it_on_the_embedded_default(settings):
    """filesystem:// means Loupe's transport; any other broker URL (CI's Redis pass) keeps its own."""
    from config.celery import app

    with app.connection_for_write() as connection:
        embedded = settings.CELERY_BROKER_URL.startswith("filesystem://")
        assert isinstance(connection.transport, Transport) == embedded


def test_a_failed_write_leaves_nothing_behind(tmp_path, monkeypatch):
    """A disk error while writing raises kombu's ChannelError and removes the partial file."""
    from kombu.exceptions import ChannelError

    connection, channel = _channel(Transport, tmp_path)

    def broken_replace(source, target):
        raise OSError("disk full")

    monkeypatch.setattr(config.broker.os, "replace", broken_replace)
    with pytest.raises(ChannelError):
        channel._put("q", PAYLOAD)
    connection.release()
    assert not list(tmp_path.iterdir())
