"""S3 access control lists and Object Ownership as the gateway and the coordinator exchange them.

Layer: wire (the gateway reads S3's headers and documents, checks them and decides requests
with them, ``wormfs.gateway.acl``; the coordinator stores a bucket's ACL and ownership setting
in the bucket's settings and an object version's ACL beside the version). The words are S3's:

* a ``Grant`` gives one ``permission`` (``FULL_CONTROL``, ``READ``, ``WRITE``, ``READ_ACP``,
  ``WRITE_ACP``) to one grantee: a ``CanonicalUser`` (``grantee`` is the user's canonical id,
  64 hex) or a ``Group`` (``grantee`` is one of the three group URIs below). Grants by email
  address are resolved to the user's canonical id before they are stored, as AWS does.
* an ``Acl`` is the owner's canonical id and the grants, in the order they were given; it
  replaces the whole previous ACL when put.
* Object Ownership is ``BucketOwnerEnforced`` (ACLs disabled, AWS's default since April 2023),
  ``BucketOwnerPreferred`` or ``ObjectWriter``.
"""

from __future__ import annotations

import msgspec

# ---- permissions --------------------------------------------------------------------------------
FULL_CONTROL = "FULL_CONTROL"
READ = "READ"
WRITE = "WRITE"
READ_ACP = "READ_ACP"
WRITE_ACP = "WRITE_ACP"
PERMISSIONS = (FULL_CONTROL, READ, WRITE, READ_ACP, WRITE_ACP)

# ---- grantees -----------------------------------------------------------------------------------
CANONICAL_USER = "CanonicalUser"
GROUP = "Group"
ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTHENTICATED_USERS = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
LOG_DELIVERY = "http://acs.amazonaws.com/groups/s3/LogDelivery"
GROUPS = (ALL_USERS, AUTHENTICATED_USERS, LOG_DELIVERY)

# ---- Object Ownership ---------------------------------------------------------------------------
BUCKET_OWNER_ENFORCED = "BucketOwnerEnforced"
BUCKET_OWNER_PREFERRED = "BucketOwnerPreferred"
OBJECT_WRITER = "ObjectWriter"
OWNERSHIPS = (BUCKET_OWNER_ENFORCED, BUCKET_OWNER_PREFERRED, OBJECT_WRITER)


class Grant(msgspec.Struct, frozen=True):
    grantee_type: str  # CANONICAL_USER | GROUP
    grantee: str  # a canonical user id, or a group URI
    permission: str  # one of PERMISSIONS
    display_name: str = ""  # shown for a canonical user when no current name is known


class Acl(msgspec.Struct, frozen=True):
    owner_id: str
    grants: list[Grant]


class OwnershipSetting(msgspec.Struct, frozen=True):
    """Put a bucket's Object Ownership (one of OWNERSHIPS); None removes the ownership
    controls (DeleteBucketOwnershipControls: the bucket then behaves as ``ObjectWriter``, as
    AWS's buckets without controls do)."""

    ownership: str | None = None


class AclSetting(msgspec.Struct, frozen=True):
    """Put the ACL of a bucket or of an object version; None stores none of its own (the
    resource then reads as ``private``: its owner's FULL_CONTROL)."""

    acl: Acl | None = None
