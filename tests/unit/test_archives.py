"""Zip expansion: hostile members are refused one by one, hostile archives as a whole."""

from __future__ import annotations

import io
import struct
import zipfile

import pytest

from tests.images import green_texture, jpeg_bytes, png_bytes, zip_bytes
from webapp.assets.archives import ArchiveError, ZipMember, is_zip, iter_zip_members

MiB = 1024**2
LIMITS = {
    "max_members": 100,
    "max_total_bytes": 500 * MiB,
    "max_member_bytes": 10 * MiB,
    "max_ratio": 200,
}


def expand(data: bytes, **limits: int) -> list[ZipMember]:
    return list(iter_zip_members(io.BytesIO(data), **{**LIMITS, **limits}))


def by_name(members: list[ZipMember]) -> dict[str, ZipMember]:
    return {member.name: member for member in members}


def patch_headers(
    archive: bytes, name: str, *, flag_bits: int | None = None, file_size: int | None = None
) -> bytes:
    """Rewrite the local and central headers of member ``name`` (to forge hostile zips)."""
    raw = bytearray(archive)
    encoded = name.encode()
    # (signature, offset of flags, offset of uncompressed size, offset of the name)
    for signature, flags_at, size_at, name_at in (
        (b"PK\x03\x04", 6, 22, 30),
        (b"PK\x01\x02", 8, 24, 46),
    ):
        start = raw.find(signature)
        found = False
        while start != -1:
            if raw[start + name_at : start + name_at + len(encoded)] == encoded:
                if flag_bits is not None:
                    struct.pack_into("<H", raw, start + flags_at, flag_bits)
                if file_size is not None:
                    struct.pack_into("<I", raw, start + size_at, file_size)
                found = True
            start = raw.find(signature, start + 1)
        assert found, f"{signature!r} header of {name} not found"
    return bytes(raw)


@pytest.fixture(scope="module")
def zeros_zip() -> bytes:
    """60 MB of zeros that deflate to about 60 KB (ratio ~1000:1), next to a real image."""
    return zip_bytes({"zeros.png": b"\0" * (60 * MiB), "leaf.png": png_bytes(green_texture(1))})


@pytest.fixture
def inflated(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the bytes decompressed from any zip member, to prove reads are bounded."""
    counter = [0]
    original = zipfile.ZipExtFile.read

    def counting_read(self: zipfile.ZipExtFile, n: int | None = -1) -> bytes:
        data = original(self, n)
        counter[0] += len(data)
        return data

    monkeypatch.setattr(zipfile.ZipExtFile, "read", counting_read)
    return counter


def test_is_zip_by_signature_or_name():
    assert is_zip("photos.bin", b"PK\x03\x04")
    assert is_zip("empty-archive", b"PK\x05\x06")
    assert is_zip("Photos.ZIP", b"\x89PNG")
    assert not is_zip("leaf.png", b"\x89PNG")
    assert not is_zip("leaf.jpg", b"")


def test_good_zip_keeps_images_and_skips_folders_and_clutter():
    leaf, bark = png_bytes(green_texture(1)), jpeg_bytes(green_texture(2))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("day1/", b"")
        archive.writestr("day1/leaf.png", leaf)
        archive.writestr("bark.jpg", bark)
        archive.writestr("__MACOSX/day1/._leaf.png", b"\0\x05\x16\x07 apple double")
        archive.writestr("day1/.DS_Store", b"\0\0\0\1Bud1")
        archive.writestr("day1/Thumbs.db", b"\xd0\xcf\x11\xe0")
    members = expand(buffer.getvalue())
    assert members == [
        ZipMember(name="day1/leaf.png", data=leaf, error=None),
        ZipMember(name="bark.jpg", data=bark, error=None),
    ]


def test_unsafe_paths_and_symlinks_are_refused_per_member():
    good = png_bytes(green_texture(3))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("ok/leaf.png", good)
        archive.writestr("../../etc/evil.png", good)
        archive.writestr("/abs/path.png", good)
        archive.writestr("C:/windows/drive.png", good)
        archive.writestr("a\\..\\..\\backslash.png", good)
        link = zipfile.ZipInfo("link.png")
        link.external_attr = 0o120777 << 16
        archive.writestr(link, "/etc/passwd")
    members = expand(buffer.getvalue())
    assert [m.name for m in members if m.error is None] == ["ok/leaf.png"]
    assert members[0].data == good
    refused = [m for m in members if m.error is not None]
    assert len(refused) == 5
    assert all(m.data is None for m in refused)
    errors = {m.name: m.error for m in refused}
    assert "unsafe path" in errors["../../etc/evil.png"]
    assert "absolute" in errors["abs/path.png"]
    assert "absolute" in errors["C:/windows/drive.png"]
    assert "'..'" in errors["a/../../backslash.png"]
    assert "symbolic link" in errors["link.png"]


def test_zip_bomb_is_refused_per_member_without_inflating_it(zeros_zip, inflated):
    members = by_name(expand(zeros_zip, max_member_bytes=MiB, max_ratio=100))
    assert "file too large" in members["zeros.png"].error
    assert members["zeros.png"].data is None
    assert members["leaf.png"].error is None and members["leaf.png"].data
    assert inflated[0] < 2 * MiB


def test_zip_bomb_is_refused_by_ratio_even_under_the_size_limit(zeros_zip, inflated):
    members = by_name(expand(zeros_zip, max_member_bytes=100 * MiB, max_ratio=100))
    assert "zip bomb" in members["zeros.png"].error
    assert members["zeros.png"].data is None
    assert members["leaf.png"].data
    assert inflated[0] < 2 * MiB


def test_member_lying_about_its_size_is_never_fully_inflated(zeros_zip, inflated):
    forged = patch_headers(zeros_zip, "zeros.png", file_size=1000)
    members = by_name(expand(forged, max_member_bytes=MiB, max_ratio=100))
    assert members["zeros.png"].data is None
    assert "corrupt" in members["zeros.png"].error
    assert members["leaf.png"].data
    assert inflated[0] < 2 * MiB


def test_total_declared_size_over_limit_refuses_the_archive(zeros_zip, inflated):
    with pytest.raises(ArchiveError, match=r"expand to 60\.0 MiB"):
        expand(zeros_zip, max_total_bytes=10 * MiB, max_member_bytes=100 * MiB)
    assert inflated[0] == 0


def test_too_many_members_refuses_the_archive():
    archive = zip_bytes({f"img-{i}.png": b"x" for i in range(11)})
    with pytest.raises(ArchiveError, match="11 entries; the limit is 10"):
        expand(archive, max_members=10)


def test_not_a_zip_named_zip_refuses_the_archive():
    data = b"this is not an archive at all" * 10
    assert is_zip("photos.zip", data[:4])
    with pytest.raises(ArchiveError, match="not a valid zip archive"):
        expand(data)


def test_truncated_archive_is_refused():
    archive = zip_bytes({"leaf.png": png_bytes(green_texture(4))})
    with pytest.raises(ArchiveError, match="not a valid zip archive"):
        expand(archive[: len(archive) // 2])


def test_empty_archive_is_refused():
    with pytest.raises(ArchiveError, match="no files"):
        expand(zip_bytes({"only-a-folder/": b"", "__MACOSX/._x": b"junk"}))


def test_nested_archives_are_not_expanded():
    inner = zip_bytes({"leaf.png": png_bytes(green_texture(5))})
    archive = zip_bytes({"inner.zip": inner, "disguised.png": inner, "ok.png": b"png?"})
    members = by_name(expand(archive))
    assert members["inner.zip"].error == "nested archives are not supported"
    assert members["disguised.png"].error == "nested archives are not supported"
    assert members["disguised.png"].data is None
    assert members["ok.png"].data == b"png?"


def test_encrypted_members_are_refused():
    archive = zip_bytes({"secret.png": b"ciphertext", "open.png": b"plain"})
    members = by_name(expand(patch_headers(archive, "secret.png", flag_bits=0x1)))
    assert "encrypted" in members["secret.png"].error
    assert members["open.png"].data == b"plain"
    everything = patch_headers(
        patch_headers(archive, "secret.png", flag_bits=0x1), "open.png", flag_bits=0x1
    )
    with pytest.raises(ArchiveError, match="password-protected"):
        expand(everything)


def test_corrupt_member_data_is_refused_per_member():
    payload = bytes(range(256)) * 40
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("damaged.png", payload)
        archive.writestr("fine.png", b"fine")
    raw = bytearray(buffer.getvalue())
    at = raw.find(payload) + 1000
    raw[at] ^= 0xFF
    members = by_name(expand(bytes(raw)))
    assert "corrupt" in members["damaged.png"].error
    assert members["damaged.png"].data is None
    assert members["fine.png"].data == b"fine"


def test_member_exactly_at_the_size_limit_is_kept():
    archive = zip_bytes({"exact.bmp": b"B" * 4096, "over.bmp": b"B" * 4097})
    members = by_name(expand(archive, max_member_bytes=4096, max_ratio=10_000))
    assert members["exact.bmp"].data == b"B" * 4096
    assert "file too large" in members["over.bmp"].error
