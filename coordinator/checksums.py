"""Temporary re-export; see ``wormfs.format.checksums`` (the multipart checksum rule).

Kept only for ``wormfs.coordinator.db.uploads`` while the database rewrite is in flight; its
owner switches that import to ``wormfs.format.checksums`` and deletes this module.
"""

from wormfs.format.checksums import *  # noqa: F403
from wormfs.format.checksums import default_type, multipart_checksum, same_checksum

__all__ = ["default_type", "multipart_checksum", "same_checksum"]
