"""One Powertools Logger and Metrics per process; the service name comes from POWERTOOLS_SERVICE_NAME.

Every log line carries `correlation_id`, and `payment_id` once a handler knows it
(`logger.append_keys(payment_id=...)`). Metrics go out as CloudWatch EMF lines in the same log stream.
"""

from __future__ import annotations

import warnings

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric

# A request that records no metric (a health check, a 404) is normal here, not worth a warning.
warnings.filterwarnings("ignore", message="No application metrics to publish")

logger = Logger(use_rfc3339=True)
metrics = Metrics()


def count_error(error_type: str) -> None:
    """Errors by type, as their own metric with an ErrorType dimension."""
    with single_metric(name="Errors", unit=MetricUnit.Count, value=1) as metric:
        metric.add_dimension(name="ErrorType", value=error_type)


def count_provider(name: str, provider: str) -> None:
    """`ProviderAttempts` or `ProviderFailures`, with a `provider` dimension."""
    with single_metric(name=name, unit=MetricUnit.Count, value=1) as metric:
        metric.add_dimension(name="provider", value=provider)
