"""Broken variants of a real aiortc offer, each of which aiortc itself would trip over only late
(while answering, or in its DTLS task): the server must refuse them up front as ``bad_sdp``."""

from __future__ import annotations

import re


def sections(sdp: str) -> tuple[str, list[str]]:
    """The session part and the m-sections of ``sdp``, each without its line break."""
    head, *media = sdp.split("\r\nm=")
    return head, ["m=" + m for m in media]


def join(head: str, media: list[str]) -> str:
    return "\r\n".join([head, *media]).rstrip("\r\n") + "\r\n"


def late_failures(sdp: str) -> dict[str, str]:
    head, media = sections(sdp)
    first_mid = re.search(r"a=mid:(\S+)", media[0])
    second_mid = re.search(r"a=mid:(\S+)", media[1])
    assert first_mid and second_mid, "a real offer names its sections"
    return {
        "repeated m-section": join(head, [*media, media[0]]),
        "repeated mid": join(head, [media[0], media[1].replace(f"a=mid:{second_mid[1]}",
                                                              f"a=mid:{first_mid[1]}"), *media[2:]]),
        "no fingerprint": re.sub(r"a=fingerprint:[^\r\n]*\r\n", "", sdp),
        "bogus fingerprint": re.sub(r"(a=fingerprint:sha-256) \S+", r"\1 ZZ:not:hex", sdp),
        "short fingerprint": re.sub(r"(a=fingerprint:sha-256) \S+", r"\1 AB:CD", sdp),
        "unknown fingerprint algorithm": re.sub(r"a=fingerprint:\S+ ", "a=fingerprint:md77 ", sdp),
    }
