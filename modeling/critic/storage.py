"""Where the critic's files live: the base checkpoint, the tiny offline one, and each version's artifact folder."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from django.conf import settings

from modeling.critic.models import CriticVersion

TINY_MARKER = "tiny_critic.json"


def critic_root() -> Path:
    """Where artifacts live (LOUPE_CRITIC_DIR); shared by the web app and the `gpu` workers."""
    return Path(settings.LOUPE_CRITIC_DIR)


#: The tiny base's folder, named by its input size: a var dir from before DEMO_TINY_CRITIC keeps its 64 px
#: base ("tiny-base") for the versions trained from it, and the next Retrain builds this one beside it.
TINY_BASE_NAME = "tiny-base-384px"


def tiny_base_default() -> Path:
    return Path(settings.VAR_DIR) / "critic" / TINY_BASE_NAME


def critic_base_dir() -> Path:
    """The base checkpoint new versions train from: LOUPE_CRITIC_BASE_DIR, or the tiny one."""
    configured = (settings.LOUPE_CRITIC_BASE_DIR or "").strip()
    return Path(configured) if configured else tiny_base_default()


def version_path(version: CriticVersion) -> Path:
    """The version's artifact folder (absolute)."""
    return critic_root() / (version.artifact_dir or f"{version.project_id}/{version.pk}")


def critic_tiny_base_ensure(directory: Path | None = None) -> tuple[Path, bool]:
    """Build the tiny random base critic (`DEMO_TINY_CRITIC`) if it is not there yet; (directory, built now).

    Built in a temporary folder and renamed into place, so two processes starting at once never see
    half a checkpoint; the loser of the race throws its copy away.
    """
    directory = Path(directory or tiny_base_default())
    if (directory / TINY_MARKER).is_file():
        return directory, False
    from modeling.critic.core.tiny import DEMO_TINY_CRITIC, build_tiny_critic

    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = directory.parent / f".{directory.name}.{os.getpid()}.building"
    shutil.rmtree(staging, ignore_errors=True)
    build_tiny_critic(staging, DEMO_TINY_CRITIC)
    try:
        if directory.exists() and not any(directory.iterdir()):
            directory.rmdir()
        os.rename(staging, directory)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        if not (directory / TINY_MARKER).is_file():
            raise
        return directory, False
    return directory, True


def base_is_tiny(base_dir: Path) -> bool:
    """A tiny random base (built by build_tiny_critic), or the default place where one will be built."""
    return (Path(base_dir) / TINY_MARKER).is_file() or Path(base_dir) == tiny_base_default()
