"""Business tables, one module per business. Importing the package registers every table (Alembic, tests)."""

from core import alerts  # noqa: F401  (the ops alerts every business raises)
from db import agents, cancellations, complaints, finance, fulfilment, identity, orders, refunds  # noqa: F401
