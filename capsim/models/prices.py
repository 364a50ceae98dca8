"""Default resource prices.

OpenCost's default on-demand prices (GCP us-central1, the defaults of OpenCost's
``default.json`` custom pricing; https://www.opencost.io/docs/configuration/on-prem): their ratio
splits a node's price between its vCPUs and its memory, for the cost of a workload's
share and of the idle part of the bill.
"""

__all__ = ["CPU_PRICE_PER_CORE_HOUR", "MEMORY_PRICE_PER_GB_HOUR"]

CPU_PRICE_PER_CORE_HOUR = 0.031611  # USD per vCPU-hour
MEMORY_PRICE_PER_GB_HOUR = 0.004237  # USD per GB-hour
