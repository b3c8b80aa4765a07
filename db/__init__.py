"""Business tables, one module per business. Importing the package registers every table (Alembic, tests)."""

from db import agents, cancellations, complaints, finance, fulfilment, identity, orders, refunds  # noqa: F401
