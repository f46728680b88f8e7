"""The database side: the unit of work, batched rows, the messaging tables every service
database holds, their retention, the provisioning of databases and users, idempotency keys."""
