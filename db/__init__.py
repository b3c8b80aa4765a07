"""Business tables, one module per business. Importing the package registers every table (Alembic, tests)."""

from db import agents, cancellations, complaints, fulfilment, identity, orders, refunds  # noqa: F401
