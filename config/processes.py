"""Which worker process holds a run, and whether it is gone: how a redelivered task knows it may take over."""
import os
import socket

from config.parsing import parse_int


def worker_identity() -> str:
    """This process as `host:pid`, stored on the row a task claims."""
    return f"{socket.gethostname()}:{os.getpid()}"


def process_gone(worker: str) -> bool:
    """True when `worker` (host:pid) names a process on this host that no longer runs (or is a zombie).

    A process on another host, or one we may not signal, is never called gone: the caller falls back to its
    heartbeat's age.
    """
    host, _, text = worker.rpartition(":")
    pid = parse_int(text, minimum=1)
    if host != socket.gethostname() or pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(")")[-1].split()[0] == "Z"
    except OSError:
        return False
