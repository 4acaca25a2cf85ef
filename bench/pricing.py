"""Public AWS prices (us-east-1) and the cost of one million payments, itemised.

Every price is in ``PRICES``, with where it comes from. Free tiers, volume tiers beyond the first,
Savings Plans and storage are left out: this is the marginal price of a payment.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

PRICES_CHECKED = "2026-11-23"
REGION = "us-east-1"


@dataclass(frozen=True)
class Price:
    item: str
    dollars: float  # per ``unit``
    unit: str
    source: str


PRICES: dict[str, Price] = {
    "api_requests": Price("API Gateway REST requests", 3.50 / 1e6, "request",
                          "https://aws.amazon.com/api-gateway/pricing/ (REST APIs, first 333 million a month: "
                          "$3.50 per million)"),
    "lambda_requests": Price("Lambda requests", 0.20 / 1e6, "request",
                             "https://aws.amazon.com/lambda/pricing/ ($0.20 per million requests)"),
    "lambda_gb_seconds": Price("Lambda duration (x86)", 0.0000166667, "GB-second",
                               "https://aws.amazon.com/lambda/pricing/ (x86, first 6 billion GB-s a month)"),
    "dynamodb_wru": Price("DynamoDB writes (on-demand)", 0.625 / 1e6, "WRU",
                          "https://aws.amazon.com/dynamodb/pricing/on-demand/ (Standard table class, "
                          "$0.625 per million WRU since the on-demand price cut of 1 November 2024)"),
    "dynamodb_rru": Price("DynamoDB reads (on-demand)", 0.125 / 1e6, "RRU",
                          "https://aws.amazon.com/dynamodb/pricing/on-demand/ ($0.125 per million RRU since "
                          "1 November 2024)"),
    "sqs_fifo_requests": Price("SQS FIFO requests", 0.50 / 1e6, "request",
                               "https://aws.amazon.com/sqs/pricing/ (FIFO: $0.50 per million; each 64 KB "
                               "chunk of a payload is one request)"),
    "sqs_standard_requests": Price("SQS standard requests", 0.40 / 1e6, "request",
                                   "https://aws.amazon.com/sqs/pricing/ (standard: $0.40 per million, "
                                   "first 100 billion a month)"),
    "log_gb": Price("CloudWatch Logs ingestion", 0.50, "GB",
                    "https://aws.amazon.com/cloudwatch/pricing/ (Standard log class, Lambda logs first tier: "
                    "$0.50 per GB ingested)"),
    "transfer_out_gb": Price("Data transfer out (API responses, webhooks)", 0.09, "GB",
                             "https://aws.amazon.com/ec2/pricing/on-demand/#Data_Transfer (to the internet, "
                             "first 10 TB a month: $0.09 per GB)"),
}

NOT_PRICED = ("DynamoDB Streams reads by Lambda (free), storage, free tiers, the idle pollers' empty "
              "receives (billed by the hour, not per payment), X-Ray/OpenTelemetry export, CloudWatch "
              "custom metrics (billed per metric per month)")


@dataclass(frozen=True)
class CostLine:
    key: str
    item: str
    quantity: float  # per payment
    unit: str
    per_million: float  # dollars per 1M payments


def cost_lines(quantities: Mapping[str, float | None], prices: Mapping[str, Price] = PRICES) -> list[CostLine]:
    """The cost of 1M payments, one line per priced item (items whose quantity is unknown are left out)."""
    lines = []
    for key, price in prices.items():
        quantity = quantities.get(key)
        if quantity is None:
            continue
        lines.append(CostLine(key, price.item, quantity, price.unit, quantity * price.dollars * 1e6))
    return lines


def total(lines: list[CostLine]) -> float:
    return sum(line.per_million for line in lines)
