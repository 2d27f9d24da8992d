"""Accept-Language picks the card language per request; the deployment default otherwise."""

import pytest

from cds_service.language import negotiate_language


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


@pytest.mark.parametrize("value,expected", [("en", "en"), ("zh-CN", "zh-CN"), ("zh", "zh-CN"), ("ZH-cn", "zh-CN"), ("", "en")])
def test_deployment_language_setting(value, expected):
    from cds_service.settings import Settings

    assert Settings.from_env({"GMG_CDS_ENV": "local", "GMG_CDS_LANGUAGE": value}).language == expected


@pytest.mark.parametrize("value", ["fr", "zh-TW", "english"])
def test_an_unsupported_deployment_language_is_refused(value):
    from cds_service.settings import ConfigError, Settings

    with pytest.raises(ConfigError, match="GMG_CDS_LANGUAGE"):
        Settings.from_env({"GMG_CDS_ENV": "local", "GMG_CDS_LANGUAGE": value})
