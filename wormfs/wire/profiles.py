"""Storage classes and named erasure-coding profiles: the /v1 schemas (wire layer).

Layer: wire schemas (pure structs and constants, no I/O). Routes on the active coordinator,
all authenticated with the cluster secret::

    GET    /v1/profiles                          -> ProfileList (with the usage of each)
    POST   /v1/profiles          ProfileSpec     -> ProfileInfo
    GET    /v1/profiles/{name}                   -> ProfileInfo
    DELETE /v1/profiles/{name}                   -> 204 (ProfileInUseError while used)
    GET    /v1/buckets/{bucket}/storage-class    -> BucketClass
    PUT    /v1/buckets/{bucket}/storage-class    BucketClass -> BucketClass

The mapping from an S3 storage class to the profile an object is written with:

* a class bound to a profile (``ProfileInfo.storage_class``, one profile per class) takes it;
* ``STANDARD`` is always the cluster's coding config (the seeded profile ``standard``
  mirrors it), so it cannot be bound to another profile;
* ``REDUCED_REDUNDANCY`` is the seeded profile ``reduced-redundancy``: as MinIO maps it (its
  RRS parity defaults to EC:1), the same width k+m with one parity chunk, k+m-1 data chunks;
  when STANDARD already has at most one parity chunk it is STANDARD's profile. An operator
  may delete it and bind the class to a profile of their own;
* any other AWS class name (``AWS_STORAGE_CLASSES``) not bound to a profile is accepted and
  stored with STANDARD's profile, reported under its own name, as before storage classes
  existed;
* an operator's own class name (``CLASS_NAME``: upper case, digits and ``_``) is valid only
  while a profile serves it; any other name is ``InvalidStorageClassError``.

An object written without a class takes its bucket's default class (``BucketClass``), itself
``STANDARD`` unless set. Every object keeps its own profile (``ObjectManifest.profile``), so
repair, scrub and reads never look a class up again.
"""

from __future__ import annotations

import re

import msgspec

from wormfs.erasure import DEFAULT_CODEC
from wormfs.format.layout import Profile

STANDARD = "STANDARD"
REDUCED_REDUNDANCY = "REDUCED_REDUNDANCY"
STANDARD_PROFILE = "standard"  # the seeded profile behind STANDARD (the coding config)
REDUCED_PROFILE = "reduced-redundancy"  # the seeded profile behind REDUCED_REDUNDANCY

# Every class name AWS documents for x-amz-storage-class.
AWS_STORAGE_CLASSES = frozenset(
    {
        "STANDARD",
        "REDUCED_REDUNDANCY",
        "STANDARD_IA",
        "ONEZONE_IA",
        "INTELLIGENT_TIERING",
        "GLACIER",
        "DEEP_ARCHIVE",
        "GLACIER_IR",
        "OUTPOSTS",
        "SNOW",
        "EXPRESS_ONEZONE",
    }
)
# Names an operator may give a class: they travel in an HTTP header and are stored in a
# 32-character column.
CLASS_NAME = re.compile(r"[A-Z][A-Z0-9_]{0,31}")
# Names of profiles: short, safe in a URL path segment and a file name.
PROFILE_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}")


class ProfileSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A named profile to create: how objects written under it are coded and cut."""

    name: str
    k: int
    m: int
    codec: str = DEFAULT_CODEC
    stripe_size: int = 1024 * 1024
    segment_size: int = 64 * 1024 * 1024
    storage_class: str | None = None  # the S3 class it serves, if any

    @property
    def profile(self) -> Profile:
        return Profile(codec=self.codec, k=self.k, m=self.m, stripe_size=self.stripe_size)


class ProfileInfo(msgspec.Struct, frozen=True):
    """A named profile and what is stored under it: objects (versions, delete markers not
    counted) of the classes it serves, their logical bytes and the raw bytes their chunks
    take at this profile (logical x (k+m)/k; inline objects included at that rate too)."""

    name: str
    codec: str
    k: int
    m: int
    stripe_size: int
    segment_size: int
    storage_class: str | None
    created: float
    objects: int = 0
    bytes: int = 0
    raw_bytes: int = 0

    @property
    def profile(self) -> Profile:
        return Profile(codec=self.codec, k=self.k, m=self.m, stripe_size=self.stripe_size)


class ProfileList(msgspec.Struct, frozen=True):
    profiles: list[ProfileInfo]


class BucketClass(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A bucket's default storage class: objects written without one take it."""

    storage_class: str = STANDARD


def class_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a storage class at all (None if it could be one)."""
    if name in AWS_STORAGE_CLASSES or CLASS_NAME.fullmatch(name):
        return None
    return (
        f"storage class {name!r} is not a valid name (upper-case letters, digits and _, "
        "at most 32 characters, starting with a letter)"
    )
