"""Property-based tests (hypothesis) of what untrusted uploads can do to validation.

Whatever bytes and member names arrive, validation answers with a verdict and a reason,
never an unexpected exception, never a path outside the archive, and never a lost file:
every input is either kept or reported.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import PurePosixPath

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.images import green_texture, png_bytes
from webapp.assets.archives import ArchiveError, iter_zip_members
from webapp.assets.image_validation import InvalidImage, validate_image

pytestmark = pytest.mark.filterwarnings("ignore:Duplicate name")  # duplicates are a case too

LIMITS = {
    "max_members": 50,
    "max_total_bytes": 20 * 1024**2,
    "max_member_bytes": 2 * 1024**2,
    "max_ratio": 200,
}
PNG = png_bytes(green_texture(0, 16))

#: Member names an attacker or a careless tool might write.
names = st.one_of(
    st.text(min_size=1, max_size=40),
    st.sampled_from(
        ["../evil.png", "/etc/passwd", "a/../../b.png", "C:\\win.png", "\x00.png", ".hidden"]
    ),
    st.builds(lambda a, b: f"{a}/{b}.png", st.text(max_size=10), st.text(max_size=10)),
)
payloads = st.one_of(st.just(PNG), st.binary(max_size=300), st.just(PNG[: len(PNG) // 2]))


@settings(max_examples=150, deadline=None)
@given(
    data=st.one_of(st.binary(max_size=2000), st.just(PNG), st.binary().map(lambda b: PNG[:40] + b))
)
def test_any_bytes_are_an_image_or_refused_with_a_reason(data: bytes) -> None:
    try:
        info = validate_image(data, filename="x", max_pixels=10**6, max_bytes=10**6)
    except InvalidImage as exc:
        assert str(exc).strip()
    else:
        assert info.width > 0 and info.height > 0 and info.format


def _zip(members: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members:
            archive.writestr(zipfile.ZipInfo(name), data)
    return buffer.getvalue()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(members=st.lists(st.tuples(names, payloads), min_size=1, max_size=8))
def test_zip_members_are_kept_inside_or_refused_and_none_is_lost(
    members: list[tuple[str, bytes]],
) -> None:
    try:
        expanded = list(iter_zip_members(io.BytesIO(_zip(members)), **LIMITS))
    except ArchiveError as exc:  # the archive as a whole: said why
        assert str(exc).strip()
        return
    for member in expanded:
        assert (member.data is None) != (member.error is None)
        if member.error is None:  # what is kept lands inside the upload
            path = PurePosixPath(member.name)
            assert not path.is_absolute() and ".." not in path.parts and "\x00" not in member.name
        else:
            assert member.error.strip()
    # silently skipped: only directories and clutter (dotfiles, __MACOSX, Thumbs.db)
    assert len(expanded) <= len(members)


def test_a_member_without_a_name_is_refused_not_a_crash() -> None:
    """Found by the property above: zipfile's is_dir() raised IndexError on an empty name."""
    (member,) = iter_zip_members(io.BytesIO(_zip([("", PNG)])), **LIMITS)
    assert member.data is None and "no file name" in (member.error or "")


@settings(max_examples=60, deadline=None)
@given(data=st.binary(min_size=1, max_size=600))
def test_garbage_that_looks_like_a_zip_is_refused_as_a_whole(data: bytes) -> None:
    with pytest.raises(ArchiveError):
        list(iter_zip_members(io.BytesIO(b"PK\x03\x04" + data), **LIMITS))
