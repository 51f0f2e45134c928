"""Fuzzing photo decoding: ``decode_image``/``load_image`` (``facecam enroll``) and the web upload route.

Inputs: arbitrary bytes; small real JPEG and PNG files (read in place) with
bytes flipped, cut short or spliced in; headers that declare huge sizes
(a tiny PNG whose IHDR says 60000x60000, a JPEG whose frame header lies);
empty files and paths that are not regular files. Property: an RGB uint8
image of at most :data:`MAX_PIXELS`, or one :class:`InvalidImage` line; a
refused upload or enrolment leaves the data directory as it was.
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from hypothesis import example, given, settings
from hypothesis import strategies as st
from PIL import Image

from camera.errors import InvalidImage
from camera.imageio import MAX_PIXELS, decode_image, load_image
from tests.fuzz.support import (
    SMALL_JPEG,
    SMALL_PNG,
    assert_clean_exit,
    assert_one_line,
    assert_user_error,
    cli,
    hostile_text,
    tree_digest,
)

JPEG = SMALL_JPEG.read_bytes()
PNG = SMALL_PNG.read_bytes()


def _reencoded(fmt: str) -> bytes:
    """The real PNG's picture, shrunk, in another format Pillow reads (each format is its own parser)."""
    buf = io.BytesIO()
    img = Image.open(io.BytesIO(PNG)).convert("RGB").resize((24, 24))
    (img.convert("P") if fmt == "GIF" else img).save(buf, fmt)
    return buf.getvalue()


def _blank_png() -> bytes:
    """A grey 64x64 PNG: a picture, but no face in it."""
    buf = io.BytesIO()
    Image.new("L", (64, 64), 128).save(buf, "PNG")
    return buf.getvalue()


OTHER_FORMATS = [_reencoded(f) for f in ("BMP", "TIFF", "GIF", "WEBP", "PPM", "TGA", "ICO", "PCX", "SGI", "DDS")]
#: the first bytes Pillow's other readers look for (Photoshop, FITS, EPS, XPM, Sun, JPEG 2000, QOI, ...)
MAGICS = [b"8BPS\x00\x01", b"SIMPLE  =                    T", b"%!PS-Adobe-3.0 EPSF-3.0\n", b"/* XPM */\n",
          b"\x59\xa6\x6a\x95", b"\xff\x4f\xff\x51", b"\x00\x00\x00\x0cjP  \r\n\x87\n", b"qoif", b"icns",
          b"FORM", b"\x01\xda\x01\x01", b"P5\n", b"P7\n", b"Pf\n", b"BM", b"II*\x00", b"MM\x00*", b"GIF89a",
          b"RIFF\x00\x00\x00\x00WEBPVP8 ", b"\x00\x00\x01\x00", b"#define im_width 8\n", b"\x0a\x05\x01\x08"]


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose IHDR claims ``width`` x ``height`` (its one IDAT holds a few bytes)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + \
        chunk(b"IEND", b"")


def jpeg_declaring(width: int, height: int) -> bytes:
    """The real JPEG with its frame header (SOF0) saying ``width`` x ``height``."""
    at = JPEG.index(b"\xff\xc0")
    return JPEG[:at + 5] + struct.pack(">HH", height, width) + JPEG[at + 9:]


def mutated(data: bytes) -> st.SearchStrategy[bytes]:
    """``data`` with a few bytes changed, maybe a run of bytes spliced in, maybe cut short."""
    def apply(flips: list[tuple[int, int]], splice: tuple[int, bytes] | None, cut: int | None) -> bytes:
        out = bytearray(data)
        for pos, value in flips:
            out[pos % len(out)] = value
        if splice is not None:
            pos = splice[0] % len(out)
            out[pos:pos] = splice[1]
        return bytes(out[:cut] if cut is not None else out)
    return st.builds(apply, st.lists(st.tuples(st.integers(0, len(data)), st.integers(0, 255)), max_size=6),
                     st.none() | st.tuples(st.integers(0, len(data)), st.binary(min_size=1, max_size=64)),
                     st.none() | st.integers(0, len(data)))


any_photo_bytes = st.one_of(
    st.binary(max_size=300), mutated(JPEG), mutated(PNG), st.sampled_from(OTHER_FORMATS).flatmap(mutated),
    st.builds(bytes.__add__, st.sampled_from(MAGICS), st.binary(max_size=200)),
    st.builds(png_declaring, st.integers(0, 2**31 - 1), st.integers(0, 2**31 - 1)),
    st.builds(jpeg_declaring, st.integers(0, 65535), st.integers(0, 65535)),
)


def _decoded_or_refused(data: bytes) -> None:
    try:
        rgb = decode_image(data, "upload.jpg")
    except Exception as exc:  # noqa: BLE001 - the property is about which exceptions escape
        assert_user_error(exc)
        assert isinstance(exc, InvalidImage), exc
        return
    h, w = rgb.shape[:2]
    assert rgb.dtype == np.uint8 and rgb.shape == (h, w, 3) and rgb.flags.c_contiguous
    assert h >= 8 and w >= 8 and h * w <= MAX_PIXELS


@settings(max_examples=300)
@given(data=any_photo_bytes)
@example(data=b"")
@example(data=png_declaring(60000, 60000))
@example(data=png_declaring(7071, 7071))  # 49.99 megapixels: under the limit, the data runs out at once
@example(data=jpeg_declaring(65535, 65535))
@example(data=JPEG[:2])
@example(data=PNG[:33])
def test_decode_arbitrary_and_damaged_bytes(data: bytes) -> None:
    _decoded_or_refused(data)


def _written(tmp: Path, name: str, data: bytes) -> Path:
    (tmp / name).write_bytes(data)
    return tmp / name


def _fifo(tmp: Path) -> Path:
    os.mkfifo(tmp / "photo.jpg")
    return tmp / "photo.jpg"


def _symlink(tmp: Path, target: str) -> Path:
    (tmp / "photo.jpg").symlink_to(target)
    return tmp / "photo.jpg"


@pytest.mark.parametrize(("make", "message"), [
    (lambda t: _written(t, "photo.jpg", b""), "the file is empty"),
    (_fifo, "not a regular file"),
    (lambda t: _symlink(t, "/dev/zero"), "not a regular file"),
    (lambda t: _symlink(t, "photo.jpg"), "no such file"),
    (lambda t: (t / "photo.jpg").mkdir() or t / "photo.jpg", "not a regular file"),
    (lambda t: _written(t, "photo.png", png_declaring(60000, 60000)), "too large"),
], ids=["zero-size", "fifo", "symlink-to-dev-zero", "symlink-loop", "directory", "png-60000x60000"])
def test_files_that_are_not_photos(tmp_path: Path, make, message: str) -> None:
    """Each fails at once (no hang on a FIFO, no endless read of /dev/zero) with one clear line."""
    with pytest.raises(InvalidImage, match=message) as exc:
        load_image(make(tmp_path))
    assert_user_error(exc.value)


@settings(max_examples=40)
@given(name=st.one_of(st.text(st.characters(exclude_characters="/", exclude_categories=()), min_size=1, max_size=40),
                      st.integers(250, 5000).map(lambda n: "0" * n), hostile_text.filter(lambda t: "/" not in t)))
# regression: a name too long for the file system raised OSError from Path.exists(): a traceback from `enroll`
@example(name="0" * 5000)
# regression: a newline or an escape in the file name was put raw into the error
@example(name="photo\n\x1b[31m.jpg")
def test_odd_photo_paths(tmp_path_factory: pytest.TempPathFactory, name: str) -> None:
    """Whatever the name (NUL, newlines, escapes, surrogates, too long), a missing photo is one clean error."""
    with pytest.raises(Exception) as exc:  # noqa: B017 - which one is the property
        load_image(tmp_path_factory.mktemp("photo") / name)
    assert_user_error(exc.value)
    assert isinstance(exc.value, InvalidImage)


@settings(max_examples=12)
@given(data=st.one_of(mutated(JPEG), st.binary(max_size=64)))
@example(data=b"")
@example(data=png_declaring(60000, 60000))
def test_enroll_a_damaged_photo(household: Path, tmp_path_factory: pytest.TempPathFactory,
                                capsys: pytest.CaptureFixture[str], data: bytes) -> None:
    """``facecam enroll``: enrolled (0) or skipped (1) with a one-line reason; a skip changes no file."""
    photo = tmp_path_factory.mktemp("photo") / "photo.jpg"
    photo.write_bytes(data)
    before = tree_digest(household)
    r = cli(["enroll", "--data-dir", str(household), "someone", str(photo)], capsys)
    assert_clean_exit(r)
    assert r.rc in (0, 1), r
    if r.rc != 0:
        assert "skipped" in r.out and tree_digest(household) == before, r


#: the accounts file records each token use: not the household's data
NOT_DATA = "accounts.sqlite3"


@settings(max_examples=25)
@given(data=st.one_of(mutated(JPEG), mutated(PNG), st.binary(max_size=64)),
       ctype=st.sampled_from(["image/jpeg", "image/png"]),
       filename=st.one_of(st.just("photo.jpg"), hostile_text.map(  # a client sends UTF-8: no lone surrogates
           lambda t: t.encode("utf-8", "replace").decode() + ".jpg")))
@example(data=b"", ctype="image/jpeg", filename="photo.jpg")
@example(data=png_declaring(60000, 60000), ctype="image/png", filename="photo.png")
# regression: the uploaded file's name went raw into the refusal (`upload\n.jpg: not an image file`)
@example(data=b"not a photo", ctype="image/jpeg", filename="a\x1b[31m\u202e.jpg")
@example(data=_blank_png(), ctype="image/png", filename="a\x1b[31m\u202e.png")  # and into "no face found"
def test_upload_a_damaged_photo(web: TestClient, household: Path, data: bytes, ctype: str, filename: str) -> None:
    """``POST /api/v1/people``: 201, or a 4xx whose one-line ``detail`` says why, and nothing stored."""
    before = {k: v for k, v in tree_digest(household).items() if k != NOT_DATA}
    r = web.post("/api/v1/people", data={"name": "uploaded"}, files={"photo": (filename, data, ctype)})
    assert r.status_code in (201, 400, 413, 415, 422), r.text  # 400: a name multipart cannot carry
    if r.status_code != 201:
        assert_one_line(r.json()["detail"])
        assert {k: v for k, v in tree_digest(household).items() if k != NOT_DATA} == before
