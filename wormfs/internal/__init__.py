"""Internal plumbing between WormFS processes: authentication, HTTP, leader discovery.

Layer: above the wire schemas and config, below the API clients. ``auth`` signs and checks
every internal request with the cluster secret, ``http`` is the one internal HTTP client and
server helper (request ids, typed error bodies, timeouts), ``leader`` the ZooKeeper record
through which coordinators publish the leader and everyone else follows it.
"""
