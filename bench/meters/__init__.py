"""The meters ``make bench`` puts into a running ``paygate dev``: they patch moto and botocore, so they are
bench's, not the runtime's. Each writes a JSON file into ``<state-dir>/meter/`` (``bench.metering`` reads
them), beside the ``runtime.json`` that a runtime keeping its own counters writes itself.

- ``meter_hook``: a botocore event hook counting every AWS call of a process (a function worker), by
  service and operation, SQS per queue; ``calls-<function>-<pid>.json``. Stdlib and botocore only.
- ``capacity``: DynamoDB's sizing and capacity rules, and the ``CapacityMeter`` adding up WRU/RRU per
  table, index and operation; ``capacity-<pid>.json``.
- ``moto_capacity``: the moto side: wraps moto's DynamoDB handlers to measure each request it serves.
- ``dev_counters``: ``runtime.json`` counted from outside, for a runtime that keeps no counters.
- ``cpu``: CPU of a process tree (``python -m bench.meters.cpu PID``).

``bench/inject/metered_dev.py`` copies the first four into a gateway's state directory as the package
``paygate_bench_meters`` (the gateway's tree has its own ``bench``): they import each other relatively,
and nothing but the standard library, botocore and moto.
"""
