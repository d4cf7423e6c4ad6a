"""ACLs and Object Ownership through boto3, with real users and anonymous clients.

Alice owns the buckets; Bob is another signed user; an unsigned client stands for the public.
Each test checks both the answers and what the grants let each of them do.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from botocore import UNSIGNED
from component.coordinator_harness import SECRET
from component.s3_fixtures import (
    OTHER_ACCESS_KEY,
    OTHER_SECRET_KEY,
    S3Env,
    call,
    error_of,
    read_body,
)

from wormfs.clients.coordinator import CoordinatorClient
from wormfs.errors import WormError
from wormfs.wire.coordinator import CreateUser

BUCKET = "shared"
XSI = "http://www.w3.org/2001/XMLSchema-instance"


def _bob(env: S3Env) -> Any:
    return env.client(OTHER_ACCESS_KEY, OTHER_SECRET_KEY)


def _anonymous(env: S3Env) -> Any:
    return env.client(signature_version=UNSIGNED)


async def _bucket(env: S3Env, ownership: str = "ObjectWriter", **extra: Any) -> Any:
    alice = env.client()
    await call(alice, "create_bucket", Bucket=BUCKET, ObjectOwnership=ownership, **extra)
    return alice


def _grants(acl: dict[str, Any]) -> set[tuple[str, str]]:
    out = set()
    for grant in acl["Grants"]:
        grantee = grant["Grantee"]
        who = grantee.get("ID") or grantee.get("URI") or ""
        out.add((who, grant["Permission"]))
    return out


async def test_acls_stay_disabled_by_default(env: S3Env) -> None:
    alice = env.client()
    await call(alice, "create_bucket", Bucket=BUCKET)
    controls = await call(alice, "get_bucket_ownership_controls", Bucket=BUCKET)
    assert controls["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    code, status, _ = await error_of(alice, "put_bucket_acl", Bucket=BUCKET, ACL="public-read")
    assert (code, status) == ("AccessControlListNotSupported", 400)
    await call(alice, "put_bucket_acl", Bucket=BUCKET, ACL="private")  # what is in force
    await call(alice, "put_object", Bucket=BUCKET, Key="k", Body=b"x")
    assert (await error_of(_anonymous(env), "get_object", Bucket=BUCKET, Key="k"))[1] == 403


async def test_canned_bucket_acls_let_others_list_and_write(env: S3Env) -> None:
    alice = await _bucket(env, ACL="public-read")
    acl = await call(alice, "get_bucket_acl", Bucket=BUCKET)
    assert acl["Owner"]["ID"] == env.users["alice"]
    assert _grants(acl) == {
        (env.users["alice"], "FULL_CONTROL"),
        ("http://acs.amazonaws.com/groups/global/AllUsers", "READ"),
    }
    await call(alice, "put_object", Bucket=BUCKET, Key="listed", Body=b"x")
    listed = await call(_anonymous(env), "list_objects_v2", Bucket=BUCKET)
    assert [o["Key"] for o in listed["Contents"]] == ["listed"]
    # READ on the bucket lists it; it reads no object (the object's ACL decides that).
    assert (await error_of(_anonymous(env), "get_object", Bucket=BUCKET, Key="listed"))[1] == 403
    assert (await error_of(_bob(env), "put_object", Bucket=BUCKET, Key="b", Body=b"b"))[1] == 403

    # Bob gets WRITE by a grant header: he may write objects, which he then owns.
    await call(
        alice,
        "put_bucket_acl",
        Bucket=BUCKET,
        GrantWrite=f'id="{env.users["bob"]}"',
        GrantFullControl=f'id="{env.users["alice"]}"',
    )
    await call(_bob(env), "put_object", Bucket=BUCKET, Key="bobs", Body=b"from bob")
    owned = await call(_bob(env), "get_object_acl", Bucket=BUCKET, Key="bobs")
    assert owned["Owner"]["ID"] == env.users["bob"]
    got = await call(_bob(env), "get_object", Bucket=BUCKET, Key="bobs")
    assert await read_body(got) == b"from bob"
    # The bucket's READ grant is gone with the new ACL: anonymous listing is refused again.
    assert (await error_of(_anonymous(env), "list_objects_v2", Bucket=BUCKET))[1] == 403


async def test_object_acls_decide_reads(env: S3Env) -> None:
    alice = await _bucket(env)
    await call(alice, "put_object", Bucket=BUCKET, Key="pub", Body=b"public", ACL="public-read")
    await call(
        alice, "put_object", Bucket=BUCKET, Key="auth", Body=b"signed", ACL="authenticated-read"
    )
    await call(alice, "put_object", Bucket=BUCKET, Key="priv", Body=b"private")
    anon, bob = _anonymous(env), _bob(env)
    assert await read_body(await call(anon, "get_object", Bucket=BUCKET, Key="pub")) == b"public"
    assert (await error_of(anon, "get_object", Bucket=BUCKET, Key="auth"))[1] == 403
    assert await read_body(await call(bob, "get_object", Bucket=BUCKET, Key="auth")) == b"signed"
    assert (await error_of(bob, "get_object", Bucket=BUCKET, Key="priv"))[1] == 403
    # READ is not READ_ACP, nor WRITE_ACP.
    assert (await error_of(bob, "get_object_acl", Bucket=BUCKET, Key="auth"))[1] == 403
    assert (await error_of(bob, "put_object_acl", Bucket=BUCKET, Key="auth", ACL="private"))[
        1
    ] == 403
    # A plain HTTP GET, as a browser makes it.
    async with aiohttp.ClientSession() as session, session.get(f"{env.endpoint}/{BUCKET}/pub") as r:
        assert r.status == 200 and await r.read() == b"public"
    # Revoked with PutObjectAcl: the public is out again.
    await call(alice, "put_object_acl", Bucket=BUCKET, Key="pub", ACL="private")
    assert (await error_of(anon, "get_object", Bucket=BUCKET, Key="pub"))[1] == 403


async def test_acl_documents_round_trip_and_refusals(env: S3Env) -> None:
    alice = await _bucket(env)
    await call(alice, "put_object", Bucket=BUCKET, Key="doc", Body=b"d")
    authenticated = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"

    def user(user_id: str, permission: str) -> dict[str, Any]:
        return {"Grantee": {"Type": "CanonicalUser", "ID": user_id}, "Permission": permission}

    policy = {
        "Owner": {"ID": env.users["alice"]},
        "Grants": [
            user(env.users["alice"], "FULL_CONTROL"),
            user(env.users["bob"], "READ"),
            {"Grantee": {"Type": "Group", "URI": authenticated}, "Permission": "READ_ACP"},
        ],
    }
    await call(alice, "put_object_acl", Bucket=BUCKET, Key="doc", AccessControlPolicy=policy)
    acl = await call(alice, "get_object_acl", Bucket=BUCKET, Key="doc")
    assert _grants(acl) == {
        (env.users["alice"], "FULL_CONTROL"),
        (env.users["bob"], "READ"),
        (authenticated, "READ_ACP"),
    }
    names = {g["Grantee"].get("DisplayName") for g in acl["Grants"] if "ID" in g["Grantee"]}
    assert names == {"alice", "bob"}
    assert await read_body(await call(_bob(env), "get_object", Bucket=BUCKET, Key="doc")) == b"d"
    await call(_bob(env), "get_object_acl", Bucket=BUCKET, Key="doc")  # READ_ACP, signed
    # An unknown user, an e-mail nobody has, both kinds at once.
    unknown = {**policy, "Grants": [user("0" * 64, "READ")]}
    code, status, _ = await error_of(
        alice, "put_object_acl", Bucket=BUCKET, Key="doc", AccessControlPolicy=unknown
    )
    assert (code, status) == ("InvalidArgument", 400)
    code, status, _ = await error_of(
        alice, "put_object_acl", Bucket=BUCKET, Key="doc", GrantRead='emailAddress="x@y.z"'
    )
    assert (code, status) == ("UnresolvableGrantByEmailAddress", 400)
    code, status, _ = await error_of(
        alice,
        "put_object_acl",
        Bucket=BUCKET,
        Key="doc",
        ACL="private",
        GrantRead=f'id="{env.users["bob"]}"',
    )
    assert (code, status) == ("InvalidRequest", 400)
    # Nothing of those changed it.
    assert _grants(await call(alice, "get_object_acl", Bucket=BUCKET, Key="doc")) == _grants(acl)


async def test_block_public_acls_and_ignore_public_acls(env: S3Env) -> None:
    alice = await _bucket(env)
    await call(alice, "put_object", Bucket=BUCKET, Key="pub", Body=b"p", ACL="public-read")
    await call(
        alice,
        "put_public_access_block",
        Bucket=BUCKET,
        PublicAccessBlockConfiguration={"BlockPublicAcls": True, "IgnorePublicAcls": True},
    )
    code, status, _ = await error_of(
        alice, "put_object", Bucket=BUCKET, Key="new", Body=b"n", ACL="public-read"
    )
    assert (code, status) == ("AccessDenied", 403)
    code, status, _ = await error_of(alice, "put_bucket_acl", Bucket=BUCKET, ACL="public-read")
    assert (code, status) == ("AccessDenied", 403)
    # The public grant already there counts for nothing now.
    assert (await error_of(_anonymous(env), "get_object", Bucket=BUCKET, Key="pub"))[1] == 403
    await call(alice, "delete_public_access_block", Bucket=BUCKET)
    got = await call(_anonymous(env), "get_object", Bucket=BUCKET, Key="pub")
    assert await read_body(got) == b"p"


async def test_ownership_controls(env: S3Env) -> None:
    alice = await _bucket(env, ownership="BucketOwnerPreferred")
    await call(alice, "put_bucket_acl", Bucket=BUCKET, GrantWrite=f'id="{env.users["bob"]}"')
    bob = _bob(env)
    await call(
        bob, "put_object", Bucket=BUCKET, Key="given", Body=b"g", ACL="bucket-owner-full-control"
    )
    await call(bob, "put_object", Bucket=BUCKET, Key="kept", Body=b"k")
    given = await call(alice, "get_object_acl", Bucket=BUCKET, Key="given")
    kept = await call(alice, "get_object_acl", Bucket=BUCKET, Key="kept")
    assert given["Owner"]["ID"] == env.users["alice"]  # preferred: the bucket owner takes it
    assert kept["Owner"]["ID"] == env.users["bob"]  # not given: the writer keeps it
    # Enforcing ownership while the bucket ACL grants Bob something is refused, as on AWS.
    enforce = {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    code, status, _ = await error_of(
        alice, "put_bucket_ownership_controls", Bucket=BUCKET, OwnershipControls=enforce
    )
    assert (code, status) == ("InvalidBucketAclWithObjectOwnership", 400)
    await call(alice, "put_bucket_acl", Bucket=BUCKET, ACL="private")
    await call(alice, "put_bucket_ownership_controls", Bucket=BUCKET, OwnershipControls=enforce)
    # Enforced: ACLs are off again, Bob's write grant with them.
    assert (await error_of(bob, "put_object", Bucket=BUCKET, Key="again", Body=b"x"))[1] == 403
    await call(alice, "delete_bucket_ownership_controls", Bucket=BUCKET)
    code, status, _ = await error_of(alice, "get_bucket_ownership_controls", Bucket=BUCKET)
    assert (code, status) == ("OwnershipControlsNotFoundError", 404)
    # Without controls ACLs are on (ObjectWriter), as AWS's buckets without them.
    await call(alice, "put_object", Bucket=BUCKET, Key="open", Body=b"o", ACL="public-read")
    assert (
        await read_body(await call(_anonymous(env), "get_object", Bucket=BUCKET, Key="open"))
        == b"o"
    )
    bad = {"Rules": [{"ObjectOwnership": "Nobody"}]}
    code, status, _ = await error_of(
        alice, "put_bucket_ownership_controls", Bucket=BUCKET, OwnershipControls=bad
    )
    assert (code, status) == ("MalformedXML", 400)


@pytest.mark.parametrize("with_policy", [False, True])
async def test_explicit_policy_deny_beats_an_acl_grant(env: S3Env, with_policy: bool) -> None:
    alice = await _bucket(env)
    await call(alice, "put_object", Bucket=BUCKET, Key="pub", Body=b"p", ACL="public-read")
    if with_policy:
        deny = (
            '{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*",'
            f'"Action":"s3:GetObject","Resource":"arn:aws:s3:::{BUCKET}/*"}}]}}'
        )
        await call(alice, "put_bucket_policy", Bucket=BUCKET, Policy=deny)
    anonymous = _anonymous(env)
    if with_policy:
        assert (await error_of(anonymous, "get_object", Bucket=BUCKET, Key="pub"))[1] == 403
    else:
        assert (
            await read_body(await call(anonymous, "get_object", Bucket=BUCKET, Key="pub")) == b"p"
        )


async def test_copies_take_their_own_acl(env: S3Env) -> None:
    alice = await _bucket(env)
    await call(alice, "put_object", Bucket=BUCKET, Key="src", Body=b"s", ACL="public-read")
    await call(alice, "copy_object", Bucket=BUCKET, Key="dst", CopySource=f"{BUCKET}/src")
    assert (await error_of(_anonymous(env), "get_object", Bucket=BUCKET, Key="dst"))[1] == 403
    up = await call(alice, "create_multipart_upload", Bucket=BUCKET, Key="mp", ACL="public-read")
    part = await call(
        alice,
        "upload_part",
        Bucket=BUCKET,
        Key="mp",
        UploadId=up["UploadId"],
        PartNumber=1,
        Body=b"m",
    )
    await call(
        alice,
        "complete_multipart_upload",
        Bucket=BUCKET,
        Key="mp",
        UploadId=up["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
    )
    assert (
        await read_body(await call(_anonymous(env), "get_object", Bucket=BUCKET, Key="mp")) == b"m"
    )


async def test_grants_by_email_name_the_user_with_that_address(env: S3Env) -> None:
    async with aiohttp.ClientSession() as session:
        admin = CoordinatorClient(session, env.coordinator_url, SECRET)
        carol = await admin.create_user(
            CreateUser(
                display_name="carol", access_key="CAROLKEY", secret_key="carol-secret",
                email="Carol@Example.org",
            )
        )  # fmt: skip
        code = ""
        try:
            await admin.create_user(CreateUser(display_name="dup", email="carol@example.org"))
        except WormError as exc:
            code = exc.code
        assert code == "ConflictError"  # one address, one user
        await admin.close()
    assert carol.email == "carol@example.org"
    alice = await _bucket(env)
    await call(alice, "put_object", Bucket=BUCKET, Key="for-carol", Body=b"c")
    await call(
        alice,
        "put_object_acl",
        Bucket=BUCKET,
        Key="for-carol",
        GrantRead='emailAddress="CAROL@example.org"',
    )
    acl = await call(alice, "get_object_acl", Bucket=BUCKET, Key="for-carol")
    assert (carol.user_id, "READ") in _grants(acl)  # stored as the user's canonical id
    got = await call(
        env.client("CAROLKEY", "carol-secret"), "get_object", Bucket=BUCKET, Key="for-carol"
    )
    assert await read_body(got) == b"c"
