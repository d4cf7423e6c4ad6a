"""The S3 gateway (``wormfs.gateway``): the S3 protocol in front of the shared data plane.

Layer: a component; it imports only ``wormfs`` shared code, never another component.
Contract: S3 over HTTP (SigV4, XML, AWS's error codes) and nothing below it: ``router`` names
each request's operation as AWS does, ``handlers`` answer one operation family each,
``errors`` is the one table from domain errors to S3 errors, ``object_service`` is the
``ObjectService`` (knowing nothing of HTTP or XML) over the coordinator client and the data
plane; ``app`` builds the aiohttp application and ``run``s it, ``__main__`` starts it through
``wormfs.runtime.startup`` like every daemon.
"""
