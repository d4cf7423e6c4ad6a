"""The expected bucket owner (gateway handlers sub-layer): ``x-amz-expected-bucket-owner``
and, on copies, ``x-amz-source-expected-bucket-owner``.

Contract: ``expecting_owner(handler)`` wraps a bucket or object operation so that a request
naming an owner other than its bucket's is ``AccessDenied`` (403) before anything is read or
changed, as AWS answers. A request let in acts as its bucket's owner
(``wormfs.gateway.access``), so the owner it may name is that owner's id (the ``Owner``
``ID`` that ListBuckets and the listings show); a request that names none is not checked.
"""

from __future__ import annotations

from wormfs.gateway.errors import AccessDenied
from wormfs.gateway.handlers.base import Handler, S3Context, S3Response

OWNER_HEADERS = ("x-amz-expected-bucket-owner", "x-amz-source-expected-bucket-owner")


def check_expected_owner(ctx: S3Context) -> None:
    for header in OWNER_HEADERS:
        expected = ctx.op.headers.get(header)
        if expected is not None and expected.strip() != ctx.principal.user_id:
            raise AccessDenied()


def expecting_owner(handler: Handler) -> Handler:
    async def checked(ctx: S3Context) -> S3Response:
        check_expected_owner(ctx)
        return await handler(ctx)

    return checked
