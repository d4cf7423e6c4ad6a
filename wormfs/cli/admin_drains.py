"""``wormfs admin node drain|undrain|decommission`` and ``disk drain|undrain|forget`` over the
admin REST API.

Layer: cli (a client of the coordinator's ``/admin/v1``). ``ApiDrains`` makes the calls the
durability CLI's drain commands make (``admin_durability.DrainCalls``) over the admin API
with the bearer token, so that each action is audited as ``node.drain``, ``disk.forget``, ...
like every other admin call; ``run_drains_over_api`` runs those commands with it, with the
same output, ``--wait`` / ``--timeout`` progress (``wormfs.cli.progress``, following the job
through ``GET /admin/v1/jobs/{id}``) and ``--json``. An error answer prints
``code: message (request id)`` and exits 1, as the other admin API commands do.
"""

from __future__ import annotations

import argparse
from urllib.parse import quote

import msgspec

from wormfs.cli.admin_api import AdminApi, over_admin_api
from wormfs.cli.admin_durability import run_drains
from wormfs.wire.jobs import JobInfo
from wormfs.wire.repair import DrainStatus, ForgetResult

# The actions of the node and disk topics that change something (list and show only read).
DRAIN_ACTIONS = ("drain", "undrain", "decommission", "forget")


def _seg(ident: str) -> str:
    return quote(ident, safe="")


class ApiDrains:
    """The drain commands' calls over ``/admin/v1`` (``coordinator/admin/nodes.py``)."""

    def __init__(self, api: AdminApi) -> None:
        self._api = api

    async def drain(self, kind: str, ident: str, undo: bool = False) -> DrainStatus:
        action = "undrain" if undo else "drain"
        done = await self._api.call("POST", f"/{kind}/{_seg(ident)}/{action}")
        return msgspec.convert(done, DrainStatus)

    async def decommission(self, node_id: str) -> DrainStatus:
        done = await self._api.call("POST", f"/nodes/{_seg(node_id)}/decommission")
        return msgspec.convert(done, DrainStatus)

    async def forget_disk(self, disk_id: str) -> ForgetResult:
        done = await self._api.call("POST", f"/disks/{_seg(disk_id)}/forget")
        return msgspec.convert(done, ForgetResult)

    async def drain_status(self) -> DrainStatus:
        return msgspec.convert(await self._api.call("GET", "/drains"), DrainStatus)

    async def job(self, job_id: str) -> JobInfo:
        return msgspec.convert(await self._api.call("GET", f"/jobs/{_seg(job_id)}"), JobInfo)


def is_drain_action(args: argparse.Namespace) -> bool:
    return args.admin_command in ("node", "disk") and args.action in DRAIN_ACTIONS


async def run_drains_over_api(args: argparse.Namespace) -> int:
    # A decommission's --timeout (TimeoutError: the job goes on) prints as an error too.
    return await over_admin_api(args, lambda api: run_drains(args, ApiDrains(api)))
