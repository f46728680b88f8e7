"""Read-your-writes: when a view is in sync, and how far behind it is when not."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from outboxkit.read_models.sync import IN_SYNC, PENDING, VersionNotWrittenError, Written, sync_state

NOW = datetime(2026, 11, 26, 12, 0, 0)


def test_a_view_that_has_every_written_version_is_in_sync() -> None:
    state = sync_state(3, Written(3, None), NOW)
    assert (state.state, state.versions_behind, state.seconds_behind) == (IN_SYNC, 0, 0.0)


def test_a_view_behind_the_outbox_is_pending_with_versions_and_seconds() -> None:
    state = sync_state(1, Written(3, NOW - timedelta(seconds=2.5)), NOW)
    assert (state.state, state.expected_version, state.versions_behind) == (PENDING, 3, 2)
    assert state.seconds_behind == pytest.approx(2.5)


def test_a_view_without_the_order_at_all_is_pending() -> None:
    assert sync_state(0, Written(1, NOW), NOW).state == PENDING


def test_the_readers_own_write_is_awaited_even_when_nothing_else_is() -> None:
    assert sync_state(1, Written(2, NOW), NOW, min_version=2).state == PENDING
    assert sync_state(2, Written(2, None), NOW, min_version=2).state == IN_SYNC


def test_a_version_never_written_is_refused_rather_than_awaited_forever() -> None:
    with pytest.raises(VersionNotWrittenError, match="min_version 5 is ahead of the latest version written"):
        sync_state(2, Written(2, None), NOW, min_version=5)


def test_with_the_outbox_pruned_the_view_is_trusted() -> None:
    assert sync_state(3, Written(0, None), NOW).state == IN_SYNC
