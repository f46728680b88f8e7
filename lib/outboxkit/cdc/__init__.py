"""Operating the CDC side: database pre-flight checks and Kafka Connect connector registration."""
