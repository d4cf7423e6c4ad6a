"""The web UI: server-rendered pages on the coordinator's admin address.

Layer: coordinator, the top, beside the admin REST API (``wormfs.coordinator.admin``), whose
service functions, schemas, auth and audit helper the pages use: the UI has no data model
and no queries of its own. Jinja2 templates (``templates/``), htmx live regions refreshed
every 2 s, uPlot sparklines from samples kept in memory (``samples``), every asset vendored
under ``static/`` (versions and licences in its README). Login with an admin token gives a
server-side session (``sessions``) held by an HttpOnly, SameSite=Strict cookie; every form
post carries the session's CSRF token (``web``). Tables are paged server-side (``paging``).
"""
