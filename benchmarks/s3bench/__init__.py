"""s3bench: the S3 load generator behind ``benchmarks/runner.py`` (not an installed package).

Modules, lowest first:

* ``sigv4``     a small SigV4 header signer (``UNSIGNED-PAYLOAD``);
* ``client``    the S3 calls the benchmark makes, over aiohttp;
* ``workload``  one client process's share of a cell (asyncio workers, fixed duration);
* ``pool``      several client processes, one cell at a time, figures merged;
* ``stores``    the stores under test: WormFS as ``make run`` starts it, the peers' scripts,
                gateway RSS sampling;
* ``report``    markdown tables, target checks, the docs/performance.md section.

``benchmarks/runner.py`` puts ``benchmarks/`` on ``sys.path`` and imports ``s3bench.*``.
"""
