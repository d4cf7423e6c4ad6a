"""The coordinator's admin plane: the REST API ``/admin/v1`` on the admin address.

Layer: a package of the coordinator component, above its database package and durability
jobs, below ``coordinator.app``. It never speaks the internal ``/v1`` API's secret-signed
protocol: it listens on its own address (``CoordinatorConfig.admin_listen``) and
authenticates bearer tokens (``db.admin_tokens``).

Modules:

    routes    Route (the declarative table entry) and AdminCall (what a handler gets)
    table     TABLE: every resource's ROUTES; MOUNTS: the UI, /metrics, ... on the address
    server    the listener, request ids, errors, auth, the follower redirect
    calling   run_audited: scope, decoding, the handler and its one audit row (API and UI)
    errors    ErrorBody {code, message, request_id} and the one domain-error mapping
    paging    PageQuery (limit, cursor), Page {items, next_cursor}, key-ordered cursors
    openapi   the OpenAPI 3.1 document generated from TABLE (GET /admin/v1/openapi.json)
    audit     write_audit (API and UI alike) and GET /admin/v1/audit
    tokens, health, cluster, nodes, buckets, users: the resources

Adding a resource (e.g. ``jobs``): write ``coordinator/admin/jobs.py`` with handlers
``async def f(call: AdminCall) -> Struct`` and ``ROUTES = (Route("GET", "/jobs", f, "summary",
query=..., response=Page[JobView], tag="jobs"), Route("POST", "/jobs/{id}/pause", g, "...",
scope="admin", response=JobView, action="job.pause", tag="jobs"), ...)``, then add
``*jobs.ROUTES`` to ``table.TABLE``. The router, the OpenAPI document, auth and the audit row
of each mutating call follow from the table; the handler only does the work.
"""
