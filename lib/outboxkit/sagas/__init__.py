"""Sagas and aggregates: guarded state machines, versioned aggregates and the compensable step."""
