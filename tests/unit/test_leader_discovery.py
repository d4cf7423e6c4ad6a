"""Leader discovery pieces without servers: the leader record format, URL lists, and the
configuration of several coordinators and ZooKeeper."""

from __future__ import annotations

import pytest

from wormfs.clients.leader import parse_urls
from wormfs.config import ConfigError, CoordinatorConfig, GatewayConfig, StorageNodeConfig, validate
from wormfs.errors import NotLeaderError, error_from_code
from wormfs.internal.leader import (
    LeaderRecord,
    decode_record,
    election_path,
    encode_record,
    leader_path,
)


def test_leader_record_round_trip() -> None:
    record = LeaderRecord(address="http://10.0.0.7:7000", epoch=12)
    data = encode_record(record)
    assert data == b'{"address":"http://10.0.0.7:7000","epoch":12}'
    assert decode_record(data) == record
    assert decode_record(None) is None and decode_record(b"") is None
    assert decode_record(b"not json") is None  # unreadable: treated as no leader
    with_admin = LeaderRecord(address="http://10.0.0.7:7000", epoch=12, admin="http://h:9001")
    assert decode_record(encode_record(with_admin)) == with_admin


def test_znode_paths() -> None:
    assert election_path("/wormfs") == "/wormfs/election"
    assert leader_path("/a/b/") == "/a/b/leader"


def test_coordinator_url_lists() -> None:
    assert parse_urls("http://a:1") == ["http://a:1"]
    assert parse_urls(" http://a:1/ , http://b:2,, ") == ["http://a:1", "http://b:2"]
    assert parse_urls("") == []


def test_not_leader_error_carries_the_leader() -> None:
    error = NotLeaderError("ask elsewhere", leader="http://b:2")
    assert error.leader == "http://b:2" and error.http_status == 503
    rebuilt = error_from_code("NotLeaderError", "ask elsewhere")
    assert isinstance(rebuilt, NotLeaderError) and rebuilt.leader == ""


def test_zookeeper_settings_validated() -> None:
    validate(CoordinatorConfig(zookeeper_hosts="127.0.0.1:2181", advertise_address="http://c:1"))
    with pytest.raises(ConfigError) as caught:
        validate(
            CoordinatorConfig(
                zookeeper_hosts="a:1,,b:2",
                zookeeper_path="wormfs/",
                zookeeper_session_timeout=0,
                advertise_address="c:1",
            )
        )
    assert len(caught.value.problems) == 4
    # Clients need either coordinator URLs or ZooKeeper.
    validate(GatewayConfig(zookeeper_hosts="z:2181"))
    validate(StorageNodeConfig(disks=["/d1"], coordinator_url="http://a:1,http://b:1"))
    with pytest.raises(ConfigError, match="coordinator_url or zookeeper_hosts"):
        validate(GatewayConfig())
