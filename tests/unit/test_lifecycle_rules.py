"""Lifecycle rules apart from any server: S3's document parsed and written back for every
filter form, when a version is due (AWS's midnight rounding, or a shortened day), what a
filter matches, the x-amz-expiration header, and the day length from the environment."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from wormfs.config import ConfigError, LifecycleSettings, lifecycle_from_env
from wormfs.gateway.errors import InvalidArgument, InvalidRequest, MalformedXML
from wormfs.gateway.lifecycle import expiration_header, lifecycle_document, parse_lifecycle
from wormfs.gateway.xml import parse_xml, render
from wormfs.wire.lifecycle import DAY_SECONDS, LifecycleConfig, LifecycleFilter, cutoff, due_at

DAY = DAY_SECONDS


def _doc(*rules: str) -> ET.Element:
    return ET.fromstring("<LifecycleConfiguration>" + "".join(rules) + "</LifecycleConfiguration>")


def _rule(inner: str, status: str = "Enabled") -> str:
    return f"<Rule><ID>r</ID>{inner}<Status>{status}</Status></Rule>"


@pytest.mark.parametrize(
    "where",
    [
        "<Prefix>old/</Prefix>",
        "<Filter><Prefix>logs/</Prefix></Filter>",
        "<Filter><Prefix></Prefix></Filter>",
        "<Filter><Tag><Key>k</Key><Value>v</Value></Tag></Filter>",
        "<Filter><ObjectSizeLessThan>100</ObjectSizeLessThan></Filter>",
        "<Filter><And><Prefix>p/</Prefix><Tag><Key>a</Key><Value>1</Value></Tag>"
        "<Tag><Key>b</Key><Value>2</Value></Tag><ObjectSizeGreaterThan>5</ObjectSizeGreaterThan>"
        "</And></Filter>",
    ],
)
def test_filters_are_answered_as_put(where: str) -> None:
    config = parse_lifecycle(_doc(_rule(where + "<Expiration><Days>3</Days></Expiration>")))
    again = parse_lifecycle(parse_xml(render(lifecycle_document(config))))
    assert again == config


def test_shapes_and_values_refused() -> None:
    days = "<Expiration><Days>1</Days></Expiration>"
    for bad in (
        _rule("<Prefix>a</Prefix><Filter><Prefix>b</Prefix></Filter>" + days),
        _rule(
            "<Filter><Prefix>a</Prefix><ObjectSizeLessThan>3</ObjectSizeLessThan></Filter>" + days
        ),
        _rule("<Expiration><Days>1</Days><Date>2030-01-01T00:00:00Z</Date></Expiration>"),
        _rule(days, status="on"),
        _rule("<Expiration><Days>one</Days></Expiration>"),
    ):
        with pytest.raises(MalformedXML):
            parse_lifecycle(_doc(bad))
    for bad in (
        _rule("<Expiration><Days>0</Days></Expiration>"),
        _rule("<Expiration><Date>2030-01-01T10:00:00Z</Date></Expiration>"),
        _rule(
            "<NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays>"
            "<NewerNoncurrentVersions>0</NewerNoncurrentVersions></NoncurrentVersionExpiration>"
        ),
    ):
        with pytest.raises(InvalidArgument):
            parse_lifecycle(_doc(bad))
    with pytest.raises(InvalidArgument):  # the same id twice
        parse_lifecycle(_doc(_rule(days), _rule(days)))
    with pytest.raises(InvalidRequest):
        parse_lifecycle(_doc(_rule("<Filter><Prefix>a</Prefix></Filter>")))
    with pytest.raises(MalformedXML):
        parse_lifecycle(ET.fromstring("<LifecycleConfiguration/>"))


def test_due_times() -> None:
    written = 10 * DAY + 3600.0  # 01:00 on day 10
    assert due_at(written, 2, DAY) == 13 * DAY  # the midnight after 01:00 on day 12
    assert due_at(written, 2, 10.0) == written + 20.0  # a shortened day is not rounded
    for now in (13 * DAY - 1, 13 * DAY, 13 * DAY + 5):
        for day in (DAY, 10.0):
            assert (due_at(written, 2, day) <= now) == (written <= cutoff(now, 2, day))


def test_filter_and_header() -> None:
    filt = LifecycleFilter(prefix="a/", tags={"t": "1"}, size_greater_than=10, size_less_than=20)
    assert filt.matches("a/x", 15, {"t": "1", "other": "2"})
    assert not filt.matches("b/x", 15, {"t": "1"})
    assert not filt.matches("a/x", 10, {"t": "1"})  # strictly greater
    assert not filt.matches("a/x", 20, {"t": "1"})  # strictly less
    assert not filt.matches("a/x", 15, {"t": "2"})
    config = parse_lifecycle(
        _doc(
            "<Rule><ID>off</ID><Prefix></Prefix><Status>Disabled</Status>"
            "<Expiration><Days>1</Days></Expiration></Rule>",
            "<Rule><ID>on</ID><Prefix>a/</Prefix><Status>Enabled</Status>"
            "<Expiration><Days>1</Days></Expiration></Rule>",
        )
    )
    header = expiration_header(config, "a/x", 1, {}, 3 * DAY + 5)
    assert header == {
        "x-amz-expiration": 'expiry-date="Tue, 06 Jan 1970 00:00:00 GMT", rule-id="on"'
    }
    assert expiration_header(config, "b/x", 1, {}, 3 * DAY) == {}
    assert expiration_header(None, "a/x", 1, {}, 3 * DAY) == {}
    assert LifecycleConfig(rules=[]).day_seconds == DAY


def test_day_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = LifecycleSettings()
    assert lifecycle_from_env(settings) == settings
    monkeypatch.setenv("WORMFS_LIFECYCLE_DAY_SECONDS", "10")
    assert lifecycle_from_env(settings).day_seconds == 10.0
    for bad in ("ten", "0", "-1"):
        monkeypatch.setenv("WORMFS_LIFECYCLE_DAY_SECONDS", bad)
        with pytest.raises(ConfigError):
            lifecycle_from_env(settings)
