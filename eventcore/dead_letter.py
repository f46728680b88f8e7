"""Lost or late events (problem 4): the dead-letter topic and re-injection.

A record that cannot be applied is not dropped and does not block its partition: it is
copied, untouched (key, value, headers), to the consumer group's dead-letter topic with headers
saying why, where it came from and how often it was tried. Once the cause is fixed,
``python -m eventcore.dead_letter reinject GROUP`` sends the records back to their original
topics; the inbox makes the re-injection safe if some of them were applied after all.
"""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import UTC, datetime

from confluent_kafka import Consumer, KafkaError, Message, Producer

from eventcore.kafka import TopicReadError, consumer_config, producer_config, read_to_current_end
from eventcore.records import header_map
from eventcore.retry import summarize
from eventcore.settings import Settings
from eventcore.topics import dead_letter_topic_for

log = logging.getLogger(__name__)

H_ERROR_CLASS = "dlq.error.class"
H_ERROR_MESSAGE = "dlq.error.message"
H_TOPIC = "dlq.original.topic"
H_PARTITION = "dlq.original.partition"
H_OFFSET = "dlq.original.offset"
H_ATTEMPTS = "dlq.attempts"
H_FIRST_FAILURE = "dlq.first.failure.at"
H_GROUP = "dlq.consumer.group"
DLQ_HEADERS = (H_ERROR_CLASS, H_ERROR_MESSAGE, H_TOPIC, H_PARTITION, H_OFFSET, H_ATTEMPTS,
               H_FIRST_FAILURE, H_GROUP)


class DeadLetterError(RuntimeError):
    """The dead-letter topic could not take a record: the consumer must not move on."""


class DeadLetterPublisher:
    def __init__(self, producer: Producer, consumer_group: str) -> None:
        self._producer = producer
        self.consumer_group = consumer_group
        self.topic = dead_letter_topic_for(consumer_group)

    def publish(
        self, message: Message, error: BaseException, attempts: int, first_failure_at: datetime
    ) -> None:
        """Send synchronously: the offset moves on only once the DLQ holds the record."""
        headers = [
            *(message.headers() or []),
            (H_ERROR_CLASS, type(error).__name__),
            (H_ERROR_MESSAGE, str(error)[:4000]),
            (H_TOPIC, message.topic()),
            (H_PARTITION, str(message.partition())),
            (H_OFFSET, str(message.offset())),
            (H_ATTEMPTS, str(attempts)),
            (H_FIRST_FAILURE, first_failure_at.astimezone(UTC).isoformat()),
            (H_GROUP, self.consumer_group),
        ]
        failures: list[KafkaError] = []

        def delivered(err: KafkaError | None, _msg: Message) -> None:
            if err is not None:
                failures.append(err)

        self._producer.produce(self.topic, key=message.key(), value=message.value(),
                               headers=headers, on_delivery=delivered)
        remaining = self._producer.flush(30)
        if failures or remaining:
            raise DeadLetterError(
                f"could not write {message.topic()}[{message.partition()}]@{message.offset()} "
                f"to {self.topic}: {failures[0] if failures else 'flush timed out'}"
            )
        log.warning("dead-lettered %s[%d]@%d to %s after %d attempt(s): %s",
                    message.topic(), message.partition(), message.offset(), self.topic, attempts,
                    summarize(error))


def reinject(
    settings: Settings, consumer_group: str, key: str | None = None, event_id: str | None = None
) -> int:
    """Send the records of the group's DLQ back to their original topics, DLQ headers removed.

    Only what the DLQ holds when it starts is read (a record that fails again and lands in the
    DLQ anew is not picked up in the same run, so nothing loops). ``key`` or ``event_id`` pick
    single records. Running it twice is safe: the consumers' inbox skips whatever was applied.
    """
    dlq = dead_letter_topic_for(consumer_group)
    consumer = Consumer(consumer_config(settings.kafka_bootstrap_servers, f"{consumer_group}.reinjector"))
    producer = Producer(producer_config(settings.kafka_bootstrap_servers))
    sent = 0
    try:
        for message in read_to_current_end(consumer, dlq):
            headers = header_map(message)
            wanted_key = key is None or (message.key() or b"").decode(errors="replace") == key
            wanted_id = event_id is None or headers.get("id") == event_id
            if not (wanted_key and wanted_id):
                continue
            original_topic = headers.get(H_TOPIC)
            if not original_topic:
                log.error("skipping %s@%d: no %s header", dlq, message.offset(), H_TOPIC)
                continue
            kept = [(k, v) for k, v in (message.headers() or []) if k not in DLQ_HEADERS]
            producer.produce(original_topic, key=message.key(), value=message.value(), headers=kept)
            if producer.flush(30):
                raise DeadLetterError(f"re-injecting into {original_topic} timed out")
            sent += 1
            log.info("re-injected %s[%d]@%d (%s) into %s", dlq, message.partition(), message.offset(),
                     headers.get(H_ERROR_CLASS, "?"), original_topic)
    finally:
        consumer.close()
    return sent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eventcore.dead_letter")
    sub = parser.add_subparsers(dest="command", required=True)
    again = sub.add_parser("reinject", help="send a group's dead letters back to their topics")
    again.add_argument("consumer_group", help="e.g. inventory-service")
    again.add_argument("--key", help="only records with this key (orderId)")
    again.add_argument("--event-id", help="only the record with this event id")
    args = parser.parse_args(argv)
    from eventcore.bootstrap import configure_logging

    configure_logging()
    try:
        sent = reinject(Settings.load(), args.consumer_group, args.key, args.event_id)
    except (DeadLetterError, TopicReadError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"re-injected {sent} record(s) from {dead_letter_topic_for(args.consumer_group)}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
