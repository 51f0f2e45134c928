"""Every bad image file becomes one clear InvalidImage; odd but valid files load as RGB."""

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from camera.errors import InvalidImage
from camera.imageio import decode_image, load_image
from tests.conftest import AGEITGEY, DATA

JPEG = AGEITGEY / "knn_examples" / "test" / "obama1.jpg"


def _huge_png(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height (the body is one tiny compressed row)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 10)) + \
        chunk(b"IEND", b"")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.write_bytes(b""), "empty (0 bytes)"),
        (lambda p: p.write_bytes(JPEG.read_bytes()[:3000]), "truncated"),
        (lambda p: p.write_text("this is not a photo\n"), "not an image file"),
        (lambda p: p.write_bytes(_huge_png(30000, 30000)), "above the limit of 50 megapixels"),
        (lambda p: None, "no such file"),
        (lambda p: p.mkdir(), "not a regular file"),
    ],
    ids=["zero-byte", "truncated-jpeg", "text-named-jpg", "huge-header", "missing", "directory"],
)
def test_bad_files(tmp_path, make, message):
    path = tmp_path / "photo.jpg"
    make(path)
    with pytest.raises(InvalidImage) as exc:
        load_image(path)
    assert message in str(exc.value) and str(path) in str(exc.value)


def test_real_photos_load_as_contiguous_rgb():
    for path in [JPEG, AGEITGEY / "misc" / "32bit.png"] if (AGEITGEY / "misc" / "32bit.png").exists() else [JPEG]:
        rgb = load_image(path)
        assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3 and rgb.flags.c_contiguous
    pgm = load_image(DATA / "ChiTatZhang+server_graduate" / "att_faces" / "s1" / "1.pgm")
    assert pgm.shape == (112, 92, 3)


def test_sixteen_bit_and_alpha_are_converted():
    buf = io.BytesIO()
    Image.fromarray((np.arange(64 * 64).reshape(64, 64) * 16).astype(np.uint16)).save(buf, "PNG")
    assert decode_image(buf.getvalue()).shape == (64, 64, 3)
    buf = io.BytesIO()
    Image.new("RGBA", (32, 32), (10, 20, 30, 0)).save(buf, "PNG")
    assert decode_image(buf.getvalue())[0, 0].tolist() == [10, 20, 30]
