"""The order read model (CQRS, problem 4): one view per order, projected from the order,
inventory and payment events into its own database, ``query_db``."""
