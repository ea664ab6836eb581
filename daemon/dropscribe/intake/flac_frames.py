"""Whether a FLAC file holds every sample its STREAMINFO declares, from its tail alone.

FLAC declares samples, not bytes. The file is finished when its metadata blocks are whole and
its last frame is whole and ends at the declared sample: the tail (at most the largest frame
STREAMINFO allows, plus room for a header) is searched backwards for a frame header whose
CRC-8 checks and from which the bytes to the end of the file pass CRC-16. Such a frame is the
last one, and its first sample plus its block size is where the audio ends. A tail with no
such frame ends inside a frame. STREAMINFO with 0 total samples (a streaming encoder) cannot
tell.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from dropscribe.intake.declared_length import ReadAt, Shortfall

MAX_METADATA_BLOCKS = 128  # metadata blocks walked to find the first frame
# The tail searched when STREAMINFO does not give the largest frame (bytes): a frame of
# 4,608 samples of 8 channels at 24 bits, uncompressed, fits.
DEFAULT_TAIL_BYTES = 1 << 17
HEADER_ROOM = 16  # the longest frame header (bytes)
# Block sizes by the 4-bit code in a frame header; 6 and 7: read from the header's end.
_BLOCK_SIZES = {1: 192, 2: 576, 3: 1152, 4: 2304, 5: 4608}


@dataclass(frozen=True)
class _Frame:
    number: int  # the frame's number (fixed block size) or its first sample (variable)
    variable: bool
    block: int  # samples in the frame


def shortfall(read_at: ReadAt, size: int) -> Shortfall | None:
    """Given a reader of a FLAC file of ``size`` bytes, return how it falls short of what its
    STREAMINFO declares, or None if it does not or cannot tell."""
    info = read_at(8, 34)  # after "fLaC" and the first block's 4-byte header: STREAMINFO
    if len(info) < 34:
        return Shortfall("FLAC", 42, size)
    nominal = int.from_bytes(info[2:4], "big")  # a fixed-block stream's block size
    max_frame = int.from_bytes(info[7:10], "big")
    total = int.from_bytes(info[10:18], "big") & ((1 << 36) - 1)
    audio = _first_frame(read_at)
    if audio > size:
        return Shortfall("FLAC", audio, size)
    if not total:
        return None
    window = max_frame + HEADER_ROOM if max_frame else DEFAULT_TAIL_BYTES
    start = max(audio, size - window)
    whole, ends = _last_frame_end(read_at(start, size - start), nominal)
    if not whole or ends < total:
        return Shortfall("FLAC", total, ends, "samples")
    return None


def _first_frame(read_at: ReadAt) -> int:
    """Return the offset just past the metadata blocks (where they say the frames begin)."""
    offset = 4
    for _ in range(MAX_METADATA_BLOCKS):
        header = read_at(offset, 4)
        if len(header) < 4:
            return offset + 4
        offset += 4 + int.from_bytes(header[1:4], "big")
        if header[0] & 0x80:  # the last metadata block
            return offset
    return offset


def _last_frame_end(tail: bytes, nominal: int) -> tuple[bool, int]:
    """Return whether ``tail`` ends with a whole frame, and the sample after it (else: the
    first sample of the last frame begun, 0 if none)."""
    begun = None
    at = len(tail) - 2
    while at >= 0:
        at = max(tail.rfind(b"\xff\xf8", 0, at + 2), tail.rfind(b"\xff\xf9", 0, at + 2))
        frame = _frame_header(tail[at : at + HEADER_ROOM]) if at >= 0 else None
        if frame is not None:
            first = frame.number if frame.variable else frame.number * nominal
            if _crc16(tail[at:]) == 0:
                return True, first + frame.block
            begun = first if begun is None else begun
        at -= 1
    return False, begun or 0


def _frame_header(data: bytes) -> _Frame | None:
    """Given bytes that may start a frame, return it if they are a frame header whose CRC-8
    checks, else None."""
    if len(data) < 6 or data[2] >> 4 == 0 or data[2] & 0xF == 15:
        return None
    if data[3] >> 4 > 10 or data[3] & 1:  # reserved channel layouts, reserved bit
        return None
    number, at = _utf8_number(data, 4)
    if number is None:
        return None
    block, at = _block_size(data, at, data[2] >> 4)
    at += {12: 1, 13: 2, 14: 2}.get(data[2] & 0xF, 0)  # a sample rate at the header's end
    if at >= len(data) or _crc8(data[:at]) != data[at]:
        return None
    return _Frame(number, bool(data[1] & 1), block)


def _block_size(data: bytes, at: int, code: int) -> tuple[int, int]:
    if code == 6:
        return data[at] + 1, at + 1
    if code == 7:
        return struct.unpack(">H", data[at : at + 2])[0] + 1, at + 2
    if code >= 8:
        return 256 << (code - 8), at
    return _BLOCK_SIZES.get(code, 0), at


def _utf8_number(data: bytes, at: int) -> tuple[int | None, int]:
    """Read the frame or sample number, coded like UTF-8 (1 to 7 bytes, up to 36 bits)."""
    lead = data[at]
    ones = next((n for n in range(8) if not lead & (0x80 >> n)), 8)
    if ones == 0:
        return lead, at + 1
    if ones == 1 or ones == 8 or at + ones > len(data):
        return None, at
    number = lead & (0x7F >> ones)
    for byte in data[at + 1 : at + ones]:
        if byte & 0xC0 != 0x80:
            return None, at
        number = number << 6 | (byte & 0x3F)
    return number, at + ones


def _crc8(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def _crc16_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x8005) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
        table.append(crc)
    return tuple(table)


_CRC16 = _crc16_table()


def _crc16(data: bytes) -> int:
    """Return the CRC-16 of ``data`` (FLAC's polynomial); 0 over a frame with its footer."""
    crc = 0
    for byte in data:
        crc = ((crc << 8) & 0xFFFF) ^ _CRC16[(crc >> 8) ^ byte]
    return crc
