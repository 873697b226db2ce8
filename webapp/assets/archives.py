"""Safe, streaming expansion of uploaded zip archives.

Uploaded archives are hostile until proven otherwise: members may try to escape with
``..`` or absolute paths, be symbolic links, be encrypted, or be zip bombs that inflate
a few kilobytes into gigabytes. Nothing here is ever extracted to disk; members are read
one at a time into memory with bounded reads, so one archive can cost at most
``max_member_bytes`` of memory per member, whatever its headers claim.

Problems with a single member are reported on that member (``ZipMember.error``) so the
rest of the archive is still kept; problems with the archive as a whole raise
``ArchiveError``.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import stat
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import IO

from detection.video_io import is_video_name

logger = logging.getLogger(__name__)

ZIP_SIGNATURES = (b"PK\x03\x04", b"PK\x05\x06")

# Nested archives are refused rather than expanded: recursion multiplies every limit.
_NESTED_EXTENSIONS = (".zip", ".tar", ".tgz", ".gz", ".bz2", ".xz", ".7z", ".rar")
_NESTED_SIGNATURES = (
    b"PK\x03\x04",
    b"PK\x05\x06",
    b"PK\x07\x08",
    b"\x1f\x8b",  # gzip
    b"7z\xbc\xaf\x27\x1c",
    b"Rar!\x1a\x07",
)
# Files that operating systems add to archives on their own; never images, never errors.
_JUNK_NAMES = frozenset({"thumbs.db", "desktop.ini"})
_JUNK_DIRS = frozenset({"__macosx"})
# Tiny members compress extremely well when they are blank (a solid BMP icon easily
# reaches 300:1), so the ratio check only applies once a member is big enough to hurt.
_RATIO_MIN_BYTES = 1024**2
_CHUNK = 64 * 1024
_DRIVE = re.compile(r"^[A-Za-z]:")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

NESTED_ERROR = "nested archives are not supported"


class ArchiveError(Exception):
    """The archive as a whole cannot be used; the message is shown to end users."""


@dataclasses.dataclass(frozen=True)
class ZipMember:
    """One file of an archive: its safe relative posix path, and either data or an error."""

    name: str
    data: bytes | None = None
    error: str | None = None


def is_zip(name: str, head: bytes) -> bool:
    """Whether a file should be treated as a zip archive.

    Content wins over names (a zip renamed to ``.png`` is still expanded), but a file
    named ``.zip`` is also treated as one so that a broken archive is reported as such
    instead of as "not an image".
    """
    return head.startswith(ZIP_SIGNATURES) or name.lower().endswith(".zip")


def iter_zip_members(
    handle: IO[bytes],
    *,
    max_members: int,
    max_total_bytes: int,
    max_member_bytes: int,
    max_ratio: float,
    max_video_bytes: int | None = None,
) -> Iterator[ZipMember]:
    """Yield every file member of the zip archive in ``handle`` (seekable binary file).

    Directories and operating-system clutter (``__MACOSX/``, dotfiles, ``Thumbs.db``)
    are skipped silently. Raises ``ArchiveError`` before yielding anything when the
    archive is unreadable, has more than ``max_members`` entries, or declares more than
    ``max_total_bytes`` in total; also while yielding, should the bytes actually read
    exceed that total, and at the end when the archive held no file at all.

    Members named as videos (``.mp4``, ``.webm``...) may be up to ``max_video_bytes``
    (default: ``max_member_bytes``), since a short clip easily outweighs any photo.
    """
    try:
        archive = zipfile.ZipFile(handle)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        logger.info("unreadable zip archive: %s", exc)
        raise ArchiveError("not a valid zip archive (corrupt or truncated)") from exc

    with archive:
        entries = archive.infolist()
        if len(entries) > max_members:
            raise ArchiveError(
                f"the archive has {len(entries):,} entries; the limit is {max_members:,}"
            )
        files = [info for info in entries if not _is_directory(info)]
        declared = sum(info.file_size for info in files)
        if declared > max_total_bytes:
            raise ArchiveError(
                f"the archive would expand to {_mib(declared)}; the limit is "
                f"{_mib(max_total_bytes)}"
            )
        if files and all(info.flag_bits & 0x1 for info in files):
            raise ArchiveError("password-protected archives are not supported")

        total_read = 0
        yielded = 0
        for info in files:
            name, error = _safe_name(info.filename)
            if error is None and _is_junk(name):
                continue
            limit = max_member_bytes
            if max_video_bytes is not None and is_video_name(name):
                limit = max_video_bytes
            if error is None:
                error = _precheck(info, name, limit, max_ratio)
            if error is not None:
                yielded += 1
                yield ZipMember(name=name, error=error)
                continue
            data, error = _read_bounded(archive, info, limit, max_ratio)
            if data is not None:
                total_read += len(data)
                if total_read > max_total_bytes:
                    # Cannot happen with honest headers (checked above); zipfile caps
                    # reads at the declared size, but do not rely on that alone.
                    raise ArchiveError(f"the archive expands to more than {_mib(max_total_bytes)}")
                if data.startswith(_NESTED_SIGNATURES):
                    data, error = None, NESTED_ERROR
            yielded += 1
            yield ZipMember(name=name, data=data, error=error)
        if not yielded:
            # Otherwise an empty archive would vanish from the response without a reason.
            raise ArchiveError("the archive contains no files")


def _is_directory(info: zipfile.ZipInfo) -> bool:
    # an empty name is no directory (zipfile's is_dir() raises on it): refused as nameless
    return bool(info.filename) and (info.is_dir() or info.filename.endswith("\\"))


def _safe_name(raw: str) -> tuple[str, str | None]:
    """The member's normalised relative posix path, and why it is unsafe (or None).

    Backslashes count as separators: Windows tools write them, and a ``..\\`` must not
    slip through just because this server runs on posix.
    """
    name = raw.replace("\\", "/")
    shown = _CONTROL.sub("?", name).lstrip("/") or "unnamed"
    if name.startswith("/") or _DRIVE.match(name):
        return shown, "unsafe path in archive (absolute path); member skipped"
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if ".." in parts:
        return shown, "unsafe path in archive ('..' leaves the archive); member skipped"
    if not parts:
        return shown, "member has no file name"
    if _CONTROL.search(name):
        return shown, "unsafe path in archive (control characters in the name)"
    return str(PurePosixPath(*parts)), None


def _is_junk(name: str) -> bool:
    path = PurePosixPath(name)
    return (
        path.name.startswith(".")
        or path.name.lower() in _JUNK_NAMES
        or any(part.lower() in _JUNK_DIRS for part in path.parts)
    )


def _precheck(
    info: zipfile.ZipInfo, name: str, max_member_bytes: int, max_ratio: float
) -> str | None:
    """Reasons to refuse a member from its headers alone, before decompressing anything."""
    if stat.S_ISLNK(info.external_attr >> 16):
        return "symbolic links are not allowed in archives"
    if info.flag_bits & 0x1:
        return "encrypted (password-protected) members are not supported"
    if name.lower().endswith(_NESTED_EXTENSIONS):
        return NESTED_ERROR
    if info.file_size > max_member_bytes:
        return _too_big(info.file_size, max_member_bytes)
    if info.file_size >= _RATIO_MIN_BYTES and info.file_size > max_ratio * max(
        info.compress_size, 1
    ):
        return _bomb(info.file_size, info.compress_size, max_ratio)
    return None


def _read_bounded(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, max_member_bytes: int, max_ratio: float
) -> tuple[bytes | None, str | None]:
    """Decompress one member, stopping as soon as it proves larger than allowed.

    Never trusts the declared size: at most ``max_member_bytes + 1`` bytes are inflated.
    Reading to the end lets zipfile verify the CRC, which catches corrupt data.
    """
    chunks: list[bytes] = []
    size = 0
    try:
        with archive.open(info) as stream:
            while chunk := stream.read(min(_CHUNK, max_member_bytes + 1 - size)):
                chunks.append(chunk)
                size += len(chunk)
                if size > max_member_bytes:
                    return None, _too_big(None, max_member_bytes)
                if size >= _RATIO_MIN_BYTES and size > max_ratio * max(info.compress_size, 1):
                    return None, _bomb(size, info.compress_size, max_ratio)
    except NotImplementedError:
        return None, "unsupported compression method in archive"
    except RuntimeError as exc:  # zipfile raises this for encrypted members
        logger.info("unreadable zip member %r: %s", info.filename, exc)
        return None, "encrypted (password-protected) members are not supported"
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError) as exc:
        logger.info("corrupt zip member %r: %s", info.filename, exc)
        return None, "corrupt data in archive (bad CRC or damaged member)"
    return b"".join(chunks), None


def _mib(size: int) -> str:
    return f"{size / 1024**2:.1f} MiB"


def _too_big(size: int | None, limit: int) -> str:
    shown = f" ({_mib(size)})" if size else ""
    return f"file too large{shown}; the limit per file is {_mib(limit)}"


def _bomb(size: int, compressed: int, max_ratio: float) -> str:
    ratio = size / max(compressed, 1)
    return (
        f"compression ratio {ratio:,.0f}:1 is above the limit of {max_ratio:,.0f}:1 "
        "(possible zip bomb); member skipped"
    )
