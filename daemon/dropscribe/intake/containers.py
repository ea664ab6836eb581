"""Containers that say how long they are: is a file shorter than its header declares?

A writer that closes a file, pauses and reopens it (a resumed upload, an app saving in pieces)
leaves a file that has settled but is not finished. Some containers declare their length:

- WAV (RIFF, RF64/BW64): the RIFF size and the data chunk's size, in bytes. A streaming writer
  that cannot seek back leaves 0 or 0xFFFFFFFF there: that declares nothing.
- FLAC: STREAMINFO's total samples (0: unknown); the file is finished when its last frame is
  whole (its CRC-16 checks) and ends at that sample (:mod:`dropscribe.intake.flac_frames`).
- MP3: a Xing/Info or VBRI frame's byte count, from the first frame on. A constant-bitrate
  file without one declares nothing.
- MP4/M4A/MOV: every top-level box's size; the file ends where its last box does, and holds
  a ``moov`` (the index; without it nothing can be decoded).

Everything else (Ogg, Opus, WebM, AAC, AIFF, CAF) cannot tell, nor can a file whose header is
cut before its sizes. :func:`shortfall` is pure: it reads through ``read_at(offset, count)``,
a few bounded reads of headers, never the whole file; :func:`file_shortfall` is its I/O.
"""

from __future__ import annotations

import os
import stat
import struct
from pathlib import Path

from dropscribe.intake import flac_frames
from dropscribe.intake.declared_length import ReadAt, Shortfall

UNKNOWN_SIZES = (0, 0xFFFFFFFF)  # what a writer that cannot seek back leaves in a 32-bit size
MAX_CHUNKS = 64  # RIFF chunks walked to find "data" (real files have a handful)
MAX_BOXES = 4096  # top-level MP4 boxes walked (a fragmented file has two per fragment)
MPEG_HEADER_BYTES = 64  # an MPEG frame header, its side information and a Xing/VBRI header


def shortfall(read_at: ReadAt, size: int) -> Shortfall | None:
    """Given a reader of a file of ``size`` bytes, return how it falls short of the length
    its container declares, or None if it does not, or its container cannot tell."""
    head = read_at(0, 16)
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return _wav(read_at, size)
    if head[:4] in (b"RF64", b"BW64") and head[8:12] == b"WAVE":
        return _rf64(read_at, size)
    if head[:4] == b"fLaC":
        return flac_frames.shortfall(read_at, size)
    if head[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"wide"):
        return _mp4(read_at, size)
    if head[:3] == b"ID3" or head[:1] == b"\xff":
        return _mp3(read_at, size)
    return None


def file_shortfall(path: Path) -> Shortfall | None:
    """Return how the regular file at ``path`` falls short of its declared length; None if
    it does not, its container cannot tell, or it is not a regular file that can be read
    (never following a link nor blocking on a FIFO: the inspection says why)."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
    try:
        fd = os.open(path, flags)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return None
        return shortfall(lambda offset, count: os.pread(fd, count, offset), st.st_size)
    except OSError:
        return None
    finally:
        os.close(fd)


def _short(container: str, declared: int, size: int) -> Shortfall | None:
    return Shortfall(container, declared, size) if declared > size else None


def _wav(read_at: ReadAt, size: int) -> Shortfall | None:
    (riff_size,) = struct.unpack("<I", read_at(4, 4))
    if riff_size in UNKNOWN_SIZES:
        return None
    offset = 12
    for _ in range(MAX_CHUNKS):
        header = read_at(offset, 8)
        if len(header) < 8:
            break  # the chunks end before "data": the RIFF size says how much is missing
        kind, chunk_size = struct.unpack("<4sI", header)
        if kind == b"data":
            if chunk_size in UNKNOWN_SIZES:
                return None
            return _short("WAV", offset + 8 + chunk_size, size)
        offset += 8 + chunk_size + (chunk_size & 1)  # chunks are padded to even lengths
    return _short("WAV", riff_size + 8, size)


def _rf64(read_at: ReadAt, size: int) -> Shortfall | None:
    # RF64 keeps its sizes in a "ds64" chunk right after the header: RIFF size, data size.
    ds64 = read_at(12, 24)
    if len(ds64) < 24 or ds64[:4] != b"ds64":
        return None
    (riff_size,) = struct.unpack("<Q", ds64[8:16])
    return _short("WAV", riff_size + 8, size) if riff_size else None


def _mp4(read_at: ReadAt, size: int) -> Shortfall | None:
    offset, has_index = 0, False
    for _ in range(MAX_BOXES):
        if offset >= size:
            break
        header = read_at(offset, 16)
        if len(header) < 8:
            return Shortfall("MP4", offset + 8, size)
        box_size, kind = struct.unpack(">I4s", header[:8])
        if box_size == 1:  # a 64-bit size follows the type
            if len(header) < 16:
                return Shortfall("MP4", offset + 16, size)
            (box_size,) = struct.unpack(">Q", header[8:16])
        elif box_size == 0:  # the last box, to the end of the file
            box_size = size - offset
        if box_size < 8:
            return None  # not a box: not ours to judge
        has_index = has_index or kind == b"moov"
        offset += box_size
    else:
        return None  # too many boxes to walk: cannot tell
    if offset > size:
        return Shortfall("MP4", offset, size)
    return None if has_index else Shortfall("MP4", 0, size)


def _mp3(read_at: ReadAt, size: int) -> Shortfall | None:
    start = _after_id3(read_at(0, 10))
    frame = read_at(start, MPEG_HEADER_BYTES)
    if len(frame) < 4 or frame[0] != 0xFF or frame[1] & 0xE0 != 0xE0:
        return None
    mpeg1 = (frame[1] >> 3) & 3 == 3
    mono = frame[3] >> 6 == 3
    side = (17 if mono else 32) if mpeg1 else (9 if mono else 17)
    xing = frame[4 + side : 4 + side + 16]
    if xing[:4] in (b"Xing", b"Info"):
        (flags,) = struct.unpack(">I", xing[4:8])
        if not flags & 2:  # no byte count
            return None
        # Its byte count: the frames from this one on; with a frame count before it if flagged.
        at = 8 + (4 if flags & 1 else 0)
        (stream_bytes,) = struct.unpack(">I", xing[at : at + 4])
        return _short("MP3", start + stream_bytes, size) if stream_bytes else None
    vbri = frame[36:50]
    if vbri[:4] == b"VBRI":
        (stream_bytes,) = struct.unpack(">I", vbri[10:14])
        return _short("MP3", start + stream_bytes, size) if stream_bytes else None
    return None


def _after_id3(head: bytes) -> int:
    """Return where the audio starts after an ID3v2 tag at ``head`` (0 if there is none)."""
    if len(head) < 10 or head[:3] != b"ID3":
        return 0
    length = 0
    for byte in head[6:10]:  # "syncsafe": 7 bits a byte
        length = length << 7 | (byte & 0x7F)
    footer = 10 if head[5] & 0x10 else 0
    return 10 + length + footer
