"""Free disk space of folders, for telling a full disk apart from other failures."""

import shutil
from pathlib import Path

# Below this a folder counts as full: SQLite, the result store and logs fail to write.
NEARLY_FULL_BYTES = 16 << 20


def free_bytes(folder: Path) -> int:
    """Free bytes on the file system holding folder (or its nearest existing parent)."""
    path = Path(folder).resolve()
    while not path.exists() and path != path.parent:
        path = path.parent
    return shutil.disk_usage(path).free


def fullest(folders: list[Path]) -> tuple[Path, int]:
    """The folder with the least free space, and that space in bytes."""
    free, folder = min(((free_bytes(folder), folder) for folder in folders), key=lambda pair: pair[0])
    return folder, free
