"""Accept-Language picks the card language per request; the deployment default otherwise."""

import pytest

from cds_service.app import negotiate_language


@pytest.mark.parametrize(
    "header,default,expected",
    [
        (None, "en", "en"),
        ("", "zh-CN", "zh-CN"),
        ("zh-CN,zh;q=0.9,en;q=0.8", "en", "zh-CN"),
        ("zh-Hans", "en", "zh-CN"),
        ("zh", "en", "zh-CN"),
        ("en-GB,en;q=0.9", "zh-CN", "en"),
        ("fr-FR, en;q=0.5, zh;q=0.7", "en", "zh-CN"),
        ("fr-FR", "zh-CN", "zh-CN"),
        ("zh;q=0, en", "zh-CN", "en"),
        ("*", "zh-CN", "zh-CN"),
        ("zh-TW", "en", "en"),  # Traditional Chinese is not offered: fall back
        ("en;q=abc, zh", "en", "zh-CN"),
    ],
)
def test_negotiation(header, default, expected):
    assert negotiate_language(header, default) == expected
