"""The native development stack: MariaDB, Kafka, Apicurio Registry and Kafka Connect as local
processes, for machines without Docker. Command line: ``stack``; Python: ``devstack.api``."""
