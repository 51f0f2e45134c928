"""Cut a motion-JPEG byte stream (JPEG files back to back, as ``rpicam-vid --codec mjpeg -o -`` writes) into
whole JPEG images.

A JPEG starts with SOI (``FF D8``) and ends with EOI (``FF D9``), but a scan
for ``FF D9`` alone is wrong: APPn segments (an EXIF block in APP1 carries a
whole thumbnail JPEG, with its own SOI and EOI) and comments may hold those
bytes. :class:`JpegSplitter` therefore walks the marker segments by their
lengths (ITU-T T.81, B.1.1), and inside entropy-coded data, where the
encoder stuffs every data ``FF`` as ``FF 00`` and restart markers are
``FF D0``..``FF D7``, it looks only for a real marker. It is incremental:
feed it chunks as they arrive from a pipe, in any sizes, and it never
rescans bytes it has already walked. Bytes before an SOI and images that
are cut short or malformed are dropped and counted, and the next image is
found again from its SOI (resynchronisation).
"""

from __future__ import annotations

from dataclasses import dataclass

SOI = b"\xff\xd8"
#: markers without a length field: TEM, RST0..RST7, SOI, EOI (T.81 table B.1)
_STANDALONE = frozenset([0x01, *range(0xD0, 0xD8), 0xD8, 0xD9])
_EOI, _SOS, _SOI = 0xD9, 0xDA, 0xD8
#: the largest JPEG accepted (bytes); a 4056x3040 frame at quality 100 is about 6 MB
MAX_JPEG_BYTES = 32 * 1024 * 1024


@dataclass
class SplitStats:
    """What was thrown away: ``garbage_bytes`` outside any image, ``broken`` images cut short or malformed."""

    images: int = 0
    garbage_bytes: int = 0
    broken: int = 0


class JpegSplitter:
    """Feed bytes with :meth:`feed`; it returns the whole JPEG images completed so far, oldest first."""

    def __init__(self, max_bytes: int = MAX_JPEG_BYTES) -> None:
        self.max_bytes = max_bytes
        self.stats = SplitStats()
        self._buf = bytearray()
        self._pos = 0  # how far the image at the start of the buffer has been walked; 0: no SOI found yet
        self._in_scan = False  # inside entropy-coded data (after an SOS header)

    @property
    def pending_bytes(self) -> int:
        """Bytes held for an image not yet complete."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[bytes]:
        """Add ``data`` (any length, any split) and return the images it completed."""
        self._buf += data
        out: list[bytes] = []
        while (image := self._next()) is not None:
            out.append(image)
        if len(self._buf) > self.max_bytes:  # no EOI in sight: a broken stream, not an image
            self.stats.broken += 1
            self._drop(len(self._buf))
        return out

    # ----- helpers ---------------------------------------------------------------

    def _next(self) -> bytes | None:
        buf = self._buf
        while True:
            if self._pos == 0 and not self._find_soi():
                return None
            n = len(buf)
            if self._in_scan:
                i = buf.find(b"\xff", min(self._pos, n))
                if i < 0 or i + 1 >= n:
                    self._pos = max(self._pos, n if i < 0 else i)
                    return None
                code = buf[i + 1]
                if code == 0x00 or 0xD0 <= code <= 0xD7:  # stuffed data byte or restart marker
                    self._pos = i + 2
                elif code == 0xFF:  # fill byte before a marker
                    self._pos = i + 1
                else:
                    self._in_scan, self._pos = False, i
                continue
            if self._pos + 2 > n:
                return None
            if buf[self._pos] != 0xFF:
                self._resync()
                continue
            code = buf[self._pos + 1]
            if code == 0xFF:  # fill byte
                self._pos += 1
            elif code == _EOI:
                end = self._pos + 2
                image = bytes(buf[:end])
                del buf[:end]
                self._pos, self._in_scan = 0, False
                self.stats.images += 1
                return image
            elif code == _SOI:  # a new image began before this one ended
                self._resync()
                continue
            elif code in _STANDALONE:
                self._pos += 2
            else:
                if self._pos + 4 > n:
                    return None
                length = int.from_bytes(buf[self._pos + 2:self._pos + 4], "big")
                if length < 2:
                    self._resync()
                    continue
                self._pos += 2 + length
                self._in_scan = code == _SOS

    def _find_soi(self) -> bool:
        """Drop what precedes the next SOI; True when the buffer now starts with one."""
        i = self._buf.find(SOI)
        if i < 0:
            keep = 1 if self._buf.endswith(b"\xff") else 0  # half of an SOI may be at the end
            self._drop(len(self._buf) - keep, garbage=True)
            return False
        self._drop(i, garbage=True)
        self._pos, self._in_scan = 2, False
        return True

    def _resync(self) -> None:
        """The image at the start of the buffer is broken: drop it up to the next SOI."""
        self.stats.broken += 1
        i = self._buf.find(SOI, 2)
        self._drop(len(self._buf) if i < 0 else i)

    def _drop(self, count: int, garbage: bool = False) -> None:
        if count <= 0:
            return
        del self._buf[:count]
        if garbage:
            self.stats.garbage_bytes += count
        self._pos, self._in_scan = 0, False
