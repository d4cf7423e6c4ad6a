"""Domain errors to errno, once, and the guard that wraps every FUSE handler.

Layer: fuse (the mount's error boundary, the third tier beside the gateway's S3 table).
Contract: ``errno_of(exc)`` is the one table from ``wormfs.errors`` to an errno; ``guarded``
wraps a handler so that nothing is ever swallowed: pyfuse3 in asyncio mode drops any
exception but ``FUSEError`` silently (the request then never gets an answer), so every other
exception becomes ``FUSEError`` here — a domain error with its mapped errno (logged at DEBUG,
or WARNING for data-plane failures), anything unexpected as ``EIO`` with its traceback logged.
"""

from __future__ import annotations

import errno
import functools
import logging
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

import pyfuse3

from wormfs import errors

log = logging.getLogger(__name__)

# Most specific first: the first class an error is an instance of decides.
ERRNO_TABLE: tuple[tuple[type[BaseException], int], ...] = (
    (errors.NoSuchEntryError, errno.ENOENT),
    (errors.NoSuchKeyError, errno.ENOENT),
    (errors.NoSuchBucketError, errno.ENOENT),
    (errors.NoSuchAttributeError, errno.ENODATA),
    (errors.EntryExistsError, errno.EEXIST),
    (errors.AttributeExistsError, errno.EEXIST),
    (errors.DirectoryNotEmptyError, errno.ENOTEMPTY),
    (errors.NotADirectoryEntryError, errno.ENOTDIR),
    (errors.IsADirectoryEntryError, errno.EISDIR),
    (errors.InvalidMoveError, errno.EINVAL),
    (errors.NameTooLongError, errno.ENAMETOOLONG),
    (errors.StaleVersionError, errno.ESTALE),
    (errors.ObjectLockedError, errno.EPERM),  # as an immutable file (chattr +i)
    (errors.AccessDeniedError, errno.EACCES),
    (errors.DiskFullError, errno.ENOSPC),
    (errors.InsufficientDisksError, errno.EIO),
    (errors.NotEnoughFragmentsError, errno.EIO),
    (errors.UnavailableError, errno.EIO),
)
# Failures of the cluster rather than of the caller's request: worth a WARNING.
_CLUSTER_ERRORS = (errors.UnavailableError, errors.CorruptChunkError)

P = ParamSpec("P")
R = TypeVar("R")


def errno_of(exc: BaseException) -> int | None:
    """The errno a domain error maps to; None for anything the table does not know."""
    for cls, code in ERRNO_TABLE:
        if isinstance(exc, cls):
            return code
    return None


def to_fuse_error(exc: BaseException, what: str) -> pyfuse3.FUSEError:
    """``exc`` as the ``FUSEError`` the caller of ``what`` gets (logged as it deserves)."""
    if isinstance(exc, pyfuse3.FUSEError):
        return exc
    code = errno_of(exc)
    if code is None:
        log.error("%s failed unexpectedly; answering EIO", what, exc_info=exc)
        return pyfuse3.FUSEError(errno.EIO)
    level = logging.WARNING if isinstance(exc, _CLUSTER_ERRORS) else logging.DEBUG
    log.log(level, "%s: %s: %s -> %s", what, type(exc).__name__, exc, errno.errorcode[code])
    return pyfuse3.FUSEError(code)


def guarded(
    handler: Callable[P, Coroutine[Any, Any, R]],
) -> Callable[P, Coroutine[Any, Any, R]]:
    """Wrap a pyfuse3 handler: every exception leaves it as a ``FUSEError``."""

    @functools.wraps(handler)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await handler(*args, **kwargs)
        except pyfuse3.FUSEError:
            raise
        except Exception as exc:
            raise to_fuse_error(exc, handler.__name__) from None

    return wrapper
