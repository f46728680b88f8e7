"""The wire format: Avro payloads in the registry's framing, the schema registry client, and
the typed events handlers receive."""
