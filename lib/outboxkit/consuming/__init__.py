"""Reading events exactly once in effect: the consumer loop, the record applier, the inbox,
the version guard, failure classification, and one service process (health, metrics, the apply hooks)."""
