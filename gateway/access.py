"""Authorization of S3 requests (gateway layer, between SigV4 and the handlers).

Contract: ``Authorizer.authorize(op, caller, how)`` decides a routed request before its handler
runs and answers the ``Principal`` the handler acts as, or raises ``AccessDenied``:

* ListBuckets and CreateBucket (no bucket to ask, or one not yet made): any signed caller
  acts as itself; an anonymous one is refused.
* Every bucket and object operation: the bucket's facts (owner, policy, public access block)
  come from ``BucketFactsCache``. The owner is let in unless the policy explicitly denies the
  request (the owner may always Get/Put/DeleteBucketPolicy, so a policy that locks the owner
  out can be removed, as AWS allows); anyone else, signed or anonymous, only when the policy
  allows it and nothing denies it (``wormfs.gateway.policy``); with the public access block's
  ``RestrictPublicBuckets`` and a public policy, only the owner. On a bucket with ACLs
  enabled (Object Ownership other than BucketOwnerEnforced) a caller the policy does not let
  in is let in by an ACL grant instead (``wormfs.gateway.acl.permits``): the bucket's ACL for
  listing, writing and its own ACL, the object version's ACL for reading it and its ACL
  (``IgnorePublicAcls`` makes grants to everyone count for nothing); an explicit Deny of the
  policy still wins. A request let in acts as the bucket's owner (the owner of an object, as
  S3 shows it, is its ACL's), and the coordinator still checks that owner on every call, so a
  bucket that changed hands since its facts were read is refused there.
* ``RequestAuth.principal_for(action, bucket, key)`` decides another resource of the same
  request the same way: the source of a copy (``s3:GetObject`` there, for the caller, so
  nobody copies out what they may not read), and each key of a DeleteObjects, which the
  request as a whole does not decide (AWS authorizes it key by key, as ``s3:DeleteObject``,
  and reports a refused key as that key's ``AccessDenied``): for it ``authorize`` only checks
  that the bucket exists and hands the handler the owner to act as once a key is allowed.

The condition keys of a request (``aws:SourceIp``, ``aws:SecureTransport``, ``aws:CurrentTime``,
``aws:username``/``userid``, ``s3:prefix``/``delimiter``/``max-keys`` on listings, the
``x-amz-*`` header keys, ``s3:signatureversion``, ``s3:authType``, ``s3:RequestObjectTag/*``,
and ``s3:ExistingObjectTag/*`` read from the object only when the policy tests it) are built
by ``request_context``.

Cost: ``BucketFactsCache`` keeps each bucket's facts, with its policy parsed once per distinct
text, for ``ttl`` seconds (1 s), so the small-object path pays a dictionary look-up and the
coordinator is asked at most once a second per bucket and worker. A policy change is seen at
once by the worker that made it (``forget``) and within ``ttl`` by the others, as AWS too
propagates policy changes eventually.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl

from wormfs.errors import NoSuchKeyError
from wormfs.gateway.acl import PERMISSION_OF, AclResource, canned_acl, permits
from wormfs.gateway.actions import action_for
from wormfs.gateway.errors import AccessDenied
from wormfs.gateway.policy import AccessRequest, Decision, Policy, Requester, parse_policy
from wormfs.gateway.policy_conditions import PolicyError
from wormfs.gateway.router import Operation
from wormfs.gateway.service import ObjectServiceProtocol, Principal
from wormfs.gateway.xml import iso8601
from wormfs.wire.acl import BUCKET_OWNER_ENFORCED, READ, WRITE, Acl
from wormfs.wire.coordinator import BucketAccess
from wormfs.wire.encryption import BucketEncryption
from wormfs.wire.lifecycle import LifecycleConfig

log = logging.getLogger(__name__)

FACTS_TTL = 1.0
MAX_CACHED_BUCKETS = 10_000
# The bucket owner may always manage the policy, whatever it says (AWS's rule for the root).
POLICY_OPERATIONS = frozenset({"GetBucketPolicy", "PutBucketPolicy", "DeleteBucketPolicy"})
LIST_OPERATIONS = frozenset({"ListObjects", "ListObjectsV2", "ListObjectVersions"})
# Authorized per key by their handler (``RequestAuth.principal_for``), not as a whole.
PER_KEY_OPERATIONS = frozenset({"DeleteObjects"})
_HEADER_KEYS = (
    "x-amz-acl",
    "x-amz-content-sha256",
    "x-amz-copy-source",
    "x-amz-grant-full-control",
    "x-amz-grant-read",
    "x-amz-grant-read-acp",
    "x-amz-grant-write",
    "x-amz-grant-write-acp",
    "x-amz-metadata-directive",
    "x-amz-server-side-encryption",
    "x-amz-server-side-encryption-aws-kms-key-id",
    "x-amz-storage-class",
    "x-amz-website-redirect-location",
)
_TAGGED_WRITES = frozenset({"PutObject", "CopyObject", "CreateMultipartUpload"})
# The ACL permission another resource of a request needs (``principal_for`` off the main
# resource): a copy's source is read, each key of a DeleteObjects written.
_ACTION_PERMISSIONS: dict[str, tuple[AclResource, str]] = {
    "s3:GetObject": ("object", READ),
    "s3:GetObjectVersion": ("object", READ),
    "s3:DeleteObject": ("bucket", WRITE),
    "s3:DeleteObjectVersion": ("bucket", WRITE),
}
_AUTH_TYPES = {"AuthHeader": "REST-HEADER", "QueryString": "REST-QUERY-STRING"}
_SIGNATURES = {"SigV4": "AWS4-HMAC-SHA256", "SigV2": "AWS"}


@dataclass(frozen=True)
class RequestFacts:
    """How the request came, for condition keys."""

    source_ip: str
    secure: bool
    auth_type: str = ""  # the access log's: "AuthHeader", "QueryString", "" (anonymous)
    signature_version: str = ""  # "SigV4", "SigV2", ""


@dataclass(frozen=True)
class BucketFacts:
    access: BucketAccess
    policy: Policy | None
    fetched: float

    @property
    def restricted(self) -> bool:
        """RestrictPublicBuckets with a public policy: nobody but the owner gets in."""
        block = self.access.public_access_block
        return (
            block is not None
            and block.restrict_public_buckets
            and self.policy is not None
            and self.policy.is_public
        )


class BucketFactsCache:
    """Bucket facts for ``ttl`` seconds, policies parsed once per text (see the module)."""

    def __init__(
        self,
        fetch: Callable[[str], Awaitable[BucketAccess]],
        ttl: float = FACTS_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._ttl = ttl
        self._clock = clock
        self._facts: dict[str, BucketFacts] = {}
        self._parsed: dict[tuple[str, str], Policy | None] = {}

    async def get(self, bucket: str) -> BucketFacts:
        now = self._clock()
        cached = self._facts.get(bucket)
        if cached is not None and now - cached.fetched < self._ttl:
            return cached
        access = await self._fetch(bucket)
        facts = BucketFacts(access, self._policy(bucket, access.policy), now)
        if len(self._facts) >= MAX_CACHED_BUCKETS:
            self._facts.clear()
        self._facts[bucket] = facts
        return facts

    def forget(self, bucket: str) -> None:
        """After this worker changed the bucket's access settings: read them anew."""
        self._facts.pop(bucket, None)

    def _policy(self, bucket: str, text: str | None) -> Policy | None:
        if text is None:
            return None
        key = (bucket, text)
        if key not in self._parsed:
            if len(self._parsed) >= MAX_CACHED_BUCKETS:
                self._parsed.clear()
            try:
                self._parsed[key] = parse_policy(text, bucket)
            except PolicyError as exc:
                # Stored after validation, so only a rule made stricter since can refuse it;
                # then it grants nothing (and denies nothing), and the owner can replace it.
                log.error("bucket %s: stored policy no longer parses: %s", bucket, exc)
                self._parsed[key] = None
        return self._parsed[key]


def resource_arn(bucket: str, key: str | None) -> str:
    return f"arn:aws:s3:::{bucket}" if key is None else f"arn:aws:s3:::{bucket}/{key}"


def request_context(
    op: Operation, caller: Principal | None, how: RequestFacts, now: float
) -> dict[str, tuple[str, ...]]:
    """The condition keys of a request (lower-cased names, see ``policy_conditions``)."""
    ctx: dict[str, tuple[str, ...]] = {
        "aws:securetransport": ("true" if how.secure else "false",),
        "aws:currenttime": (iso8601(now),),
        "aws:epochtime": (str(int(now)),),
        "aws:principaltype": ("Anonymous" if caller is None else "User",),
    }
    if how.source_ip:
        ctx["aws:sourceip"] = (how.source_ip,)
    if caller is not None:
        ctx["aws:username"] = (caller.display_name,)
        ctx["aws:userid"] = (caller.user_id,)
        ctx["aws:principalaccount"] = (caller.user_id,)
        ctx["aws:principalarn"] = (f"arn:aws:iam::{caller.user_id}:user/{caller.display_name}",)
    if how.auth_type in _AUTH_TYPES:
        ctx["s3:authtype"] = (_AUTH_TYPES[how.auth_type],)
    if how.signature_version in _SIGNATURES:
        ctx["s3:signatureversion"] = (_SIGNATURES[how.signature_version],)
    headers = op.headers
    for name in ("user-agent", "referer"):
        if name in headers:
            ctx["aws:" + name.replace("-", "")] = (headers[name],)
    for name in _HEADER_KEYS:
        if name in headers:
            ctx["s3:" + name] = (headers[name],)
    if "versionId" in op.query:
        ctx["s3:versionid"] = (op.query["versionId"],)
    if op.name in LIST_OPERATIONS:
        for name in ("prefix", "delimiter", "max-keys"):
            if name in op.query:
                ctx["s3:" + name] = (op.query[name],)
    if op.name in _TAGGED_WRITES and "x-amz-tagging" in headers:
        pairs = parse_qsl(headers["x-amz-tagging"], keep_blank_values=True)
        for key, value in pairs:
            ctx["s3:requestobjecttag/" + key] = (value,)
        ctx["s3:requestobjecttagkeys"] = tuple(k for k, _ in pairs)
    return ctx


class Authorizer:
    def __init__(self, service: ObjectServiceProtocol, cache: BucketFactsCache) -> None:
        self._service = service
        self.cache = cache

    async def authorize(
        self, op: Operation, caller: Principal | None, how: RequestFacts
    ) -> RequestAuth:
        auth = RequestAuth(self, op, caller, how)
        action = action_for(op.name, versioned="versionId" in op.query)
        if op.bucket is None or action is None:
            if caller is None:
                raise AccessDenied()
            auth.principal = caller
            return auth
        if op.name in PER_KEY_OPERATIONS:
            auth.principal = _owner(await self.cache.get(op.bucket), caller)
            return auth
        auth.principal = await auth.principal_for(action, op.bucket, op.key, main=True)
        return auth

    async def object_acl(
        self, owner: Principal, bucket: str, key: str, version_id: str | None
    ) -> Acl | None:
        """The version's ACL (None: none of its own, or no such version)."""
        try:
            manifest = await self._service.head_object(owner, bucket, key, version_id)
        except NoSuchKeyError:
            return None
        return manifest.attributes.acl

    async def existing_tags(
        self, owner: Principal, bucket: str, key: str, version_id: str | None
    ) -> dict[str, str]:
        try:
            manifest = await self._service.head_object(owner, bucket, key, version_id)
        except NoSuchKeyError:
            return {}
        return dict(manifest.attributes.tags)


class RequestAuth:
    """One request's authorization: who called, and as whom its handler acts."""

    def __init__(
        self, authorizer: Authorizer, op: Operation, caller: Principal | None, how: RequestFacts
    ) -> None:
        self._authorizer = authorizer
        self.op = op
        self.caller = caller
        self.how = how
        self.principal: Principal | None = None  # set by ``Authorizer.authorize``

    async def lifecycle(self, bucket: str) -> LifecycleConfig | None:
        """The bucket's lifecycle rules, from the bucket facts this worker caches."""
        return (await self._authorizer.cache.get(bucket)).access.lifecycle

    async def access(self, bucket: str) -> BucketAccess:
        """The bucket's facts (owner, ownership, ACL, public access block), as cached."""
        return (await self._authorizer.cache.get(bucket)).access

    async def encryption(self, bucket: str) -> BucketEncryption | None:
        """The bucket's default encryption, from the bucket facts this worker caches."""
        return (await self._authorizer.cache.get(bucket)).access.encryption

    def settings_changed(self, bucket: str) -> None:
        """The request changed the bucket's access settings: read them anew next time."""
        self._authorizer.cache.forget(bucket)

    async def principal_for(
        self, action: str, bucket: str, key: str | None, *, main: bool = False
    ) -> Principal:
        """The principal to act as on ``bucket``/``key`` for ``action``, or ``AccessDenied``.
        ``main``: the routed resource itself (the policy operations' owner rule applies)."""
        facts = await self._authorizer.cache.get(bucket)
        caller = self.caller
        owner = _owner(facts, caller)
        is_owner = caller is not None and caller.user_id == owner.user_id
        if is_owner and main and self.op.name in POLICY_OPERATIONS:
            return owner
        policy = facts.policy
        if policy is None:
            if is_owner or await self._acl_allows(facts, action, bucket, key, main):
                return owner
            raise AccessDenied()
        requester = None if caller is None else Requester(caller.user_id, caller.display_name)
        context = request_context(self.op, caller, self.how, time.time())
        if key is not None and policy.uses_existing_tags:
            version = self.op.query.get("versionId") if main else None
            tags = await self._authorizer.existing_tags(owner, bucket, key, version)
            for name, value in tags.items():
                context["s3:existingobjecttag/" + name] = (value,)
            context["s3:existingobjecttagkeys"] = tuple(tags)
        decision = policy.evaluate(
            AccessRequest(requester, action, resource_arn(bucket, key), context)
        )
        if decision is Decision.DENY:
            raise AccessDenied()
        if is_owner:
            return owner
        if decision is Decision.ALLOW and not facts.restricted:
            return owner
        if await self._acl_allows(facts, action, bucket, key, main):
            return owner
        raise AccessDenied()

    async def _acl_allows(
        self, facts: BucketFacts, action: str, bucket: str, key: str | None, main: bool
    ) -> bool:
        """Does an ACL grant the caller this request (ACLs enabled on the bucket only)?"""
        access = facts.access
        if access.ownership == BUCKET_OWNER_ENFORCED:
            return False
        entry = PERMISSION_OF.get(self.op.name) if main else _ACTION_PERMISSIONS.get(action)
        if entry is None:
            return False
        resource, permission = entry
        block = access.public_access_block
        ignore = block is not None and block.ignore_public_acls
        user_id = None if self.caller is None else self.caller.user_id
        if resource == "bucket":
            bucket_acl = access.acl or canned_acl("private", access.owner_id, access.owner_id)
            return permits(bucket_acl, user_id, permission, ignore_public=ignore)
        if key is None:
            return False
        version = self.op.query.get("versionId") if main else None
        acl = await self._authorizer.object_acl(_owner(facts, None), bucket, key, version)
        return acl is not None and permits(acl, user_id, permission, ignore_public=ignore)


def _owner(facts: BucketFacts, caller: Principal | None) -> Principal:
    """The bucket's owner, as whom a request let in acts (with the caller's key, for logs)."""
    return Principal(
        user_id=facts.access.owner_id,
        display_name=facts.access.owner_display_name,
        access_key=caller.access_key if caller is not None else "",
    )
