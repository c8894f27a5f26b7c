"""Sticky canary buckets, compatible with nginx's ``split_clients``.

nginx hashes the key with MurmurHash2 (32 bit, seed 0) and sends a request to the first part
whose cumulative boundary ``percent * 0xffffffff / 10000`` (percent with two decimals, so 25% is
2500) lies above the hash. The kit does exactly the same, with the canary as the first part::

    split_clients "${http_authorization}" $side { 25% canary; * legacy; }

    >>> murmurhash2(b"Token abc")  # doctest: +SKIP
    >>> in_canary(b"Token abc", 25)

Because the boundary only moves up as the weight grows, raising a weight from 5 to 25 moves just
the keys whose hash lies between the two boundaries; everybody else stays where they were.
"""

from __future__ import annotations

from functools import lru_cache

__all__ = ["boundary", "in_canary", "murmurhash2"]

_M = 0x5BD1E995
_MASK = 0xFFFFFFFF


def murmurhash2(data: bytes) -> int:
    """MurmurHash2, 32 bit, seed 0, as ``ngx_murmur_hash2`` computes it."""
    length = len(data)
    h = length & _MASK  # 0 ^ len
    i = 0
    while length >= 4:
        k = data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24)
        k = (k * _M) & _MASK
        k ^= k >> 24
        k = (k * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
        i += 4
        length -= 4
    if length == 3:
        h ^= data[i + 2] << 16
    if length >= 2:
        h ^= data[i + 1] << 8
    if length >= 1:
        h ^= data[i]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h


def boundary(weight_percent: float) -> int:
    """The hash boundary nginx computes for a first part of ``weight_percent`` (0..100)."""
    hundredths = round(weight_percent * 100)
    return hundredths * 0xFFFFFFFF // 10000


# the same sticky keys (tokens, session cookies, client addresses) come back request after
# request: their hashes and the few weights in use are remembered
@lru_cache(maxsize=4096)
def _hash(key: bytes) -> int:
    return murmurhash2(key)


@lru_cache(maxsize=256)
def _boundary(weight_percent: float) -> int:
    return boundary(weight_percent)


def in_canary(key: bytes, weight_percent: float) -> bool:
    """True when ``key`` falls in the first ``weight_percent`` of the hash space."""
    if weight_percent <= 0:
        return False
    if weight_percent >= 100:
        return True
    return _hash(key) < _boundary(weight_percent)
