"""Reading gzip, bzip2 and xz input as far as it decompresses, every member of it, naming what went wrong.

gzip.GzipFile and its kin raise on bad data instead, losing what the failing read had decompressed, and
reject a whole file for a bad CRC or for trailing bytes; a log cut short by a full disk or a crash during
rotation still holds lines a postmaster needs.
"""
from __future__ import annotations

import bz2
import io
import lzma
import zlib

# How each member (gzip) or stream (bzip2, xz) starts: `cat a.gz b.gz` and pbzip2 write several.
MEMBER_MAGIC = {"gzip": b"\x1f\x8b", "bzip2": b"BZh", "xz": b"\xfd7zXZ\x00"}
# zlib's words for a member that decompressed whole but whose CRC or size field disagrees.
GZIP_CHECK_ERRORS = ("incorrect data check", "incorrect length check")


class Decompressed(io.RawIOBase):
    """The decompressed bytes of a gzip, bzip2 or xz input, of all its members, as far as they decompress.

    Bad data never raises: what decompressed is handed out, and what went wrong (cut short, corrupt, a
    failed check, trailing garbage) is appended to `problems`. gzip.GzipFile and its kin raise instead,
    losing what the failing read had decompressed, and reject a whole file for a bad CRC or trailing bytes.
    """

    INPUT_PIECE = 1 << 16
    OUTPUT_PIECE = 1 << 16  # at most this much is decompressed at a time, whatever the ratio

    def __init__(self, compressed: io.BufferedReader, kind: str, name: str, problems: list[str]):
        super().__init__()
        self.compressed, self.kind, self.name, self.problems = compressed, kind, name, problems
        self.decompressor = None   # None between members
        self.unfed = b""           # input read but not yet given to a decompressor
        self.skip = 0              # input to drop before the next member: the size field of a bad gzip member
        self.draining = False      # zlib stopped at OUTPUT_PIECE: it may have more without more input
        self.pending = memoryview(b"")
        self.read_bytes = 0        # compressed bytes read
        self.handed_out = 0        # decompressed bytes produced
        self.ended = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self.pending:
            if self.ended:
                return 0
            self.pending = memoryview(self._decompress())
        size = min(len(buffer), len(self.pending))
        buffer[:size] = self.pending[:size]
        self.pending = self.pending[size:]
        return size

    def close(self) -> None:
        if not self.closed:
            self.compressed.close()
        super().close()

    def _decompress(self) -> bytes:
        """The next piece of output, perhaps empty; `ended` is set when there is none left."""
        decompressor = self.decompressor
        if decompressor is None:
            self._start_member()
            return b""
        is_gzip = self.kind == "gzip"
        more_without_input = self.draining if is_gzip else not decompressor.needs_input
        if not self.unfed and not more_without_input:
            self.unfed = self._read_input()
            if not self.unfed:
                self._end(f"{self.kind} data cut short: the input ends before the end-of-stream marker, after "
                          f"{self.handed_out:,} bytes decompressed; every line of them was used")
                return b""
        data, self.unfed = self.unfed, b""
        saved = decompressor.copy() if is_gzip else None
        try:
            out = decompressor.decompress(data, self.OUTPUT_PIECE)
        except (zlib.error, OSError, EOFError, lzma.LZMAError) as exc:
            out = self._replay(saved, data) if is_gzip else b""
            self.handed_out += len(out)
            self._note_bad_data(exc)
            return out
        self.handed_out += len(out)
        if is_gzip:
            self.unfed = decompressor.unconsumed_tail
            self.draining = len(out) == self.OUTPUT_PIECE
        if decompressor.eof:
            self.unfed, self.decompressor = decompressor.unused_data, None
        return out

    def _read_input(self) -> bytes:
        chunk = self.compressed.read1(self.INPUT_PIECE)
        self.read_bytes += len(chunk)
        return chunk

    def _start_member(self) -> None:
        """Between members: start the next one, or end at the end of the input or at trailing garbage."""
        magic = MEMBER_MAGIC[self.kind]
        while True:
            if self.skip:
                dropped = min(self.skip, len(self.unfed))
                self.unfed, self.skip = self.unfed[dropped:], self.skip - dropped
            # Zero bytes are padding (the xz format allows it, tape blocks add it): they hold no line.
            self.unfed = self.unfed.lstrip(b"\0")
            if len(self.unfed) >= len(magic) and not self.skip:
                break
            chunk = self._read_input()
            if not chunk:
                break
            self.unfed += chunk
        if not self.unfed:
            self.ended = True
        elif self.unfed.startswith(magic):
            self.decompressor = _decompressor(self.kind)
        else:
            at = self.read_bytes - len(self.unfed)
            self._end(f"trailing garbage ignored: the bytes from byte {at:,} of the input on are not another "
                      f"{self.kind} member; every line before them was used")

    def _replay(self, saved, data: bytes) -> bytes:
        """What a zlib call that failed had decompressed: its input again, a byte at a time, from the state
        before it (the failing call returned nothing). The input after the failing byte stays unfed."""
        pieces = []
        for at in range(len(data)):
            try:
                pieces.append(saved.decompress(data[at:at + 1]))
            except zlib.error:
                self.unfed = data[at + 1:]
                break
        return b"".join(pieces)

    def _note_bad_data(self, exc: BaseException) -> None:
        reason = str(exc).rpartition(": ")[2] or type(exc).__name__
        if self.kind == "gzip" and reason in GZIP_CHECK_ERRORS:
            # The member decompressed to its end and was handed out; read on from the member after it.
            self.problems.append(f"{self.name}: gzip check failed ({reason}) for the member ending "
                                 f"{self.handed_out:,} bytes into the decompressed data: its lines were "
                                 "used, but may be damaged")
            self.decompressor, self.draining = None, False
            self.skip = 4 if reason == GZIP_CHECK_ERRORS[0] else 0  # the size field after a bad CRC
            return
        self._end(f"corrupt {self.kind} data after {self.handed_out:,} bytes decompressed ({reason}); "
                  "the rest of the input was not read")

    def _end(self, problem: str) -> None:
        self.problems.append(f"{self.name}: {problem}")
        self.ended = True


def _decompressor(kind: str):
    if kind == "gzip":
        return zlib.decompressobj(16 + zlib.MAX_WBITS)  # gzip header and trailer, CRC and size checked
    if kind == "bzip2":
        return bz2.BZ2Decompressor()
    return lzma.LZMADecompressor(lzma.FORMAT_XZ)
