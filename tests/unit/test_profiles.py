"""Storage classes as pure rules: the REDUCED_REDUNDANCY mapping, the width check, profile
and class name validation, and the gateway's parsing of x-amz-storage-class."""

from __future__ import annotations

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from wormfs.config import CodingConfig
from wormfs.coordinator.db.profiles import Resolved, check_width, reduced_profile, spec_problems
from wormfs.errors import InvalidStorageClassError
from wormfs.format.layout import Profile
from wormfs.gateway.errors import InvalidStorageClass
from wormfs.gateway.handlers.headers import object_attributes, object_headers, storage_class
from wormfs.wire.coordinator import ObjectAttributes, ObjectManifest
from wormfs.wire.profiles import AWS_STORAGE_CLASSES, ProfileSpec, class_name_problem


def _headers(**values: str) -> CIMultiDictProxy[str]:
    return CIMultiDictProxy(CIMultiDict({k.replace("_", "-"): v for k, v in values.items()}))


@pytest.mark.parametrize(
    ("k", "m", "reduced"),
    [(4, 2, (5, 1)), (8, 4, (11, 1)), (2, 1, (2, 1)), (3, 0, (3, 0)), (12, 4, (15, 1))],
)
def test_reduced_redundancy_keeps_the_width_with_one_parity_chunk(
    k: int, m: int, reduced: tuple[int, int]
) -> None:
    profile = reduced_profile(CodingConfig(k=k, m=m))
    assert (profile.k, profile.m) == reduced
    assert profile.n == k + m
    assert profile.stripe_size == CodingConfig().stripe_size


def test_a_class_wider_than_every_disk_is_refused_naming_both_numbers() -> None:
    wide = Resolved("COLD", Profile(codec="isa_l_rs_vand", k=6, m=3, stripe_size=4096), 4096)
    check_width(wide, 9)
    with pytest.raises(
        InvalidStorageClassError, match=r"needs k\+m = 9 disks \(6\+3\); the cluster has 8"
    ) as info:
        check_width(wide, 8)
    assert info.value.storage_class == "COLD"
    # STANDARD is the cluster's own profile: a cluster short of disks is a 503 (placement's).
    check_width(Resolved("STANDARD", wide.profile, 4096), 8)


def test_profile_specs_are_checked_all_at_once() -> None:
    assert spec_problems(ProfileSpec(name="cold", k=8, m=3, storage_class="COLD")) == []
    problems = spec_problems(
        ProfileSpec(name="-x", k=0, m=17, stripe_size=1000, segment_size=1500, codec="nope")
    )
    assert len(problems) == 6, problems
    assert problems[0].startswith("profile name '-x'")
    assert "k 0 must be within 1..16" in problems
    assert not any(p.startswith("coding.") for p in problems)


def test_class_names() -> None:
    for name in (*AWS_STORAGE_CLASSES, "COLD", "FAST_2", "A" * 32):
        assert class_name_problem(name) is None, name
    for name in ("", "cold", "2FAST", "A" * 33, "CO LD", "CO-LD"):
        assert class_name_problem(name) is not None, name


def test_the_gateway_leaves_an_absent_class_to_the_bucket_and_checks_only_the_form() -> None:
    assert storage_class(_headers()) == ""
    assert object_attributes(_headers()).storage_class == ""
    assert storage_class(_headers(x_amz_storage_class="COLD")) == "COLD"
    assert storage_class(_headers(), default="GLACIER") == "GLACIER"
    with pytest.raises(InvalidStorageClass) as info:
        storage_class(_headers(x_amz_storage_class="cold"))
    assert info.value.fields == {"StorageClassRequested": "cold"}


@pytest.mark.parametrize(("stored", "shown"), [("STANDARD", None), ("COLD", "COLD")])
def test_head_and_get_omit_the_header_for_standard_only(stored: str, shown: str | None) -> None:
    manifest = ObjectManifest(
        bucket="b",
        key="k",
        version_id="v",
        owner_id="o",
        size=0,
        etag='"e"',
        last_modified=0.0,
        profile=CodingConfig().profile,
        parts=[],
        attributes=ObjectAttributes(storage_class=stored),
    )
    assert object_headers(manifest).get("x-amz-storage-class") == shown
