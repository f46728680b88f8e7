"""The reusable messaging core every service imports.

Where each problem of the design is handled:

==========================  ==============================================
problem                     module
==========================  ==============================================
1 dual write                eventcore.outbox (OutboxWriter, one transaction)
2 duplicates                eventcore.inbox (inbox table, per consumer group)
3 out-of-order              eventcore.version_guard (per-aggregate versions)
4 lost / late events        eventcore.dead_letter (DLQ and re-injection)
5 offset commit atomicity   eventcore.consumer (commit after the DB commit)
6 saga races                eventcore.saga (guarded state machines)
7 key design                eventcore.topics (a topic per aggregate type, its id as key)
8 partial rollouts          eventcore.avro (reader schemas, BACKWARD rule)
==========================  ==============================================
"""
