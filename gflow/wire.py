"""A small msgpack codec for the CLI's hot path (gqueue, gbatch, gjob show, gcancel).

`import msgspec` costs more than the whole rest of a `gqueue` call (it pulls typing, enum,
uuid, platform, re and decimal), so the few small messages those commands exchange are
encoded here with the stdlib. The schema stays `gflow.protocol`: the lean request builders
in `gflow.cli.lean` are tested to decode into its Structs, and this decoder is tested on
msgspec's own encoding, so neither side can drift. Only the msgpack subset msgspec emits for
our messages is supported: nil, bool, int, float, str, bin, array and map (no ext types).
"""
from __future__ import annotations

from _struct import error as _StructError
from _struct import pack, unpack_from


# announced in `hello`; a daemon speaking another refuses the client.
# 2: big replies (listings, logs, waits) are streamed in several frames (`more`)
PROTOCOL_VERSION = 2


class WireError(ValueError):
    """Bytes that are not (our subset of) msgpack."""


def packb(obj) -> bytes:
    out = bytearray()
    _pack(obj, out)
    return bytes(out)


def _pack(obj, out: bytearray) -> None:
    if obj is None:
        out.append(0xC0)
    elif obj is True:
        out.append(0xC3)
    elif obj is False:
        out.append(0xC2)
    elif type(obj) is int:
        _pack_int(obj, out)
    elif type(obj) is float:
        out += pack(">Bd", 0xCB, obj)
    elif isinstance(obj, str):
        data = obj.encode("utf-8", "surrogatepass")
        if len(data) < 32:
            out.append(0xA0 | len(data))
        else:
            _sized(len(data), 0xD9, out)
        out += data
    elif isinstance(obj, (bytes, bytearray)):
        _sized(len(obj), 0xC4, out)
        out += obj
    elif isinstance(obj, (list, tuple)):
        _header(len(obj), 0x90, 0xDC, out)
        for item in obj:
            _pack(item, out)
    elif isinstance(obj, dict):
        _header(len(obj), 0x80, 0xDE, out)
        for key, value in obj.items():
            _pack(key, out)
            _pack(value, out)
    else:
        raise TypeError(f"cannot encode {type(obj).__name__} on the lean path")


def _sized(n: int, code8: int, out: bytearray) -> None:
    """The length header of a str or bin: msgpack numbers the 8-, 16- and 32-bit forms
    consecutively (str 0xD9-0xDB, bin 0xC4-0xC6)."""
    if n < 0x100:
        out += pack(">BB", code8, n)
    elif n < 0x10000:
        out += pack(">BH", code8 + 1, n)
    else:
        out += pack(">BI", code8 + 2, n)


def _header(n: int, fix: int, wide: int, out: bytearray) -> None:
    if n < 16:
        out.append(fix | n)
    elif n < 0x10000:
        out += pack(">BH", wide, n)
    else:
        out += pack(">BI", wide + 1, n)


def _pack_int(n: int, out: bytearray) -> None:
    if 0 <= n < 0x80:
        out.append(n)
    elif -32 <= n < 0:
        out.append(n & 0xFF)
    elif n >= 0:
        for code, fmt, limit in ((0xCC, ">BB", 0x100), (0xCD, ">BH", 0x10000),
                                 (0xCE, ">BI", 1 << 32), (0xCF, ">BQ", 1 << 64)):
            if n < limit:
                out += pack(fmt, code, n)
                return
        raise OverflowError("integer too large for msgpack")
    else:
        for code, fmt, limit in ((0xD0, ">Bb", 1 << 7), (0xD1, ">Bh", 1 << 15),
                                 (0xD2, ">Bi", 1 << 31), (0xD3, ">Bq", 1 << 63)):
            if n >= -limit:
                out += pack(fmt, code, n)
                return
        raise OverflowError("integer too small for msgpack")


def unpackb(data: bytes):
    """Decode one whole msgpack value; trailing bytes are an error, as in msgspec."""
    try:
        value, end = _unpack(data, 0)
    except (IndexError, UnicodeDecodeError, _StructError) as e:
        raise WireError(f"truncated or invalid msgpack: {e}") from None
    if end != len(data):
        raise WireError("trailing bytes after a msgpack value")
    return value


_FIXED = {0xC0: None, 0xC2: False, 0xC3: True}
_NUMBERS = {
    0xCA: (">f", 4), 0xCB: (">d", 8),
    0xCC: (">B", 1), 0xCD: (">H", 2), 0xCE: (">I", 4), 0xCF: (">Q", 8),
    0xD0: (">b", 1), 0xD1: (">h", 2), 0xD2: (">i", 4), 0xD3: (">q", 8),
}
_LENGTHS = {0xD9: (">B", 1), 0xDA: (">H", 2), 0xDB: (">I", 4),  # str
            0xC4: (">B", 1), 0xC5: (">H", 2), 0xC6: (">I", 4),  # bin
            0xDC: (">H", 2), 0xDD: (">I", 4),  # array
            0xDE: (">H", 2), 0xDF: (">I", 4)}  # map


def _unpack(data: bytes, i: int):
    b = data[i]
    i += 1
    if b < 0x80:
        return b, i
    if b >= 0xE0:
        return b - 0x100, i
    if 0xA0 <= b < 0xC0:
        n = b & 0x1F
        return _text(data, i, n), i + n
    if 0x90 <= b < 0xA0:
        return _array(data, i, b & 0x0F)
    if 0x80 <= b < 0x90:
        return _map(data, i, b & 0x0F)
    if b in _FIXED:
        return _FIXED[b], i
    if b in _NUMBERS:
        fmt, size = _NUMBERS[b]
        return unpack_from(fmt, data, i)[0], i + size
    if b in _LENGTHS:
        fmt, size = _LENGTHS[b]
        n = unpack_from(fmt, data, i)[0]
        i += size
        if b in (0xD9, 0xDA, 0xDB):
            return _text(data, i, n), i + n
        if b in (0xC4, 0xC5, 0xC6):
            if i + n > len(data):
                raise IndexError("bin past the end")
            return bytes(data[i:i + n]), i + n
        if b in (0xDC, 0xDD):
            return _array(data, i, n)
        return _map(data, i, n)
    raise WireError(f"unsupported msgpack type byte 0x{b:02x}")


def _text(data: bytes, i: int, n: int) -> str:
    if i + n > len(data):
        raise IndexError("str past the end")
    return bytes(data[i:i + n]).decode("utf-8")


def _array(data: bytes, i: int, n: int):
    items = []
    for _ in range(n):
        item, i = _unpack(data, i)
        items.append(item)
    return items, i


def _map(data: bytes, i: int, n: int):
    result = {}
    for _ in range(n):
        key, i = _unpack(data, i)
        value, i = _unpack(data, i)
        result[key] = value
    return result, i


def split_reply(data: bytes):
    """A reply envelope as (fields other than `result`, the raw bytes of `result` or None).

    The daemon encodes `{id, result}` with `result` last, so the result's bytes are simply
    the rest of the frame: a caller can hand a large listing to msgspec (or check it is an
    empty array) without decoding it here. Any other layout is decoded whole.
    """
    try:
        if data[:1] in (b"\x82", b"\x83"):  # {id, result} or, streamed, {id, more, result}
            key, i = _unpack(data, 1)
            if key == "id":
                envelope = {}
                envelope["id"], i = _unpack(data, i)
                key, j = _unpack(data, i)
                if key == "more" and data[:1] == b"\x83":
                    envelope["more"], i = _unpack(data, j)
                    key, j = _unpack(data, i)
                if key == "result" and len(envelope) == (data[0] & 0x0F) - 1:
                    return envelope, data[j:]
        envelope = unpackb(data)
    except (IndexError, UnicodeDecodeError, _StructError) as e:
        raise WireError(f"truncated or invalid msgpack: {e}") from None
    if not isinstance(envelope, dict):
        raise WireError("a reply is not a map")
    raw = envelope.pop("result", None)
    return envelope, None if raw is None else packb(raw)


def join_arrays(parts) -> bytes:
    """One msgpack array holding the items of several: the parts of a streamed list."""
    count, bodies = 0, []
    for part in parts:
        data = bytes(part)
        tag = data[0] if data else 0
        if 0x90 <= tag <= 0x9F:
            n, skip = tag & 0x0F, 1
        elif tag == 0xDC:
            n, skip = unpack_from(">H", data, 1)[0], 3
        elif tag == 0xDD:
            n, skip = unpack_from(">I", data, 1)[0], 5
        else:
            raise WireError("a streamed reply is not a list")
        count += n
        bodies.append(memoryview(data)[skip:])
    return b"".join([pack(">BI", 0xDD, count), *bodies])
