"""``make bench``: paygate dev end to end, metered, priced and compared.

- ``bench.cli``: start a tree's ``paygate dev`` (or use a running one), run the scenarios, print the figures.
- ``bench.compare``: the same scenarios against two trees, interleaved, side by side.
- ``bench.client``: the HTTP client and the webhook receiver (the scenarios themselves).
- ``bench.metering``: reading the meter files, differences, figures per payment.
- ``bench.pricing``: public prices and the cost model.
- ``bench.system``: gateways as processes (start, pause, stop), idle CPU, cold imports.
- ``bench.report``: tables.
- ``bench.meters``: the meters put into a gateway (capacity, botocore hook, CPU); ``bench/inject/``
  puts them there (``metered_dev.py``, run with the gateway's tree's own Python).
"""
