import pytest

from outboxkit.cdc.connect_client import ConnectClient, ConnectError, ConnectorState


class ScriptedConnect(ConnectClient):
    """Answers status requests from a script of states (no HTTP)."""

    def __init__(self, states):
        super().__init__("http://connect.invalid")
        self._states = list(states)

    def state(self, name):
        return self._states.pop(0) if len(self._states) > 1 else self._states[0]


def state(connector, *tasks, trace=None):
    return ConnectorState("c", connector, list(tasks), [trace] if trace else [])


def test_waits_until_connector_and_every_task_run(monkeypatch):
    monkeypatch.setattr("time.sleep", lambda _s: None)
    seen: list[ConnectorState | None] = []
    client = ScriptedConnect(
        [None, state("RUNNING"), state("RUNNING", "UNASSIGNED"), state("RUNNING", "RUNNING")]
    )
    final = client.wait_until_running("c", timeout_s=5, on_progress=seen.append)
    assert final.running
    assert len(seen) == 4


def test_a_failed_task_raises_with_its_trace(monkeypatch):
    monkeypatch.setattr("time.sleep", lambda _s: None)
    client = ScriptedConnect([state("RUNNING", "FAILED", trace="java.sql.SQLException: Access denied")])
    with pytest.raises(ConnectError, match="Access denied") as failed:
        client.wait_until_running("c", timeout_s=5)
    assert "tasks [FAILED]" in str(failed.value)


def test_running_without_tasks_is_not_running():
    assert not state("RUNNING").running
    assert state("FAILED").failed


def test_a_worker_that_does_not_answer_is_skipped_for_the_next(monkeypatch):
    import requests

    calls = []

    class Answer:
        status_code = 200
        text = "[]"

        def json(self):
            return ["order-outbox"]

    def request(method, url, json=None, timeout=None):
        calls.append(url)
        if url.startswith("http://down"):
            raise requests.ConnectionError("refused")
        return Answer()

    monkeypatch.setattr("requests.request", request)
    client = ConnectClient("http://down:8083, http://up:8084")
    assert client.connectors() == ["order-outbox"]
    assert client.connectors() == ["order-outbox"]  # the one that answered is asked first next time
    assert calls == ["http://down:8083/connectors", "http://up:8084/connectors", "http://up:8084/connectors"]
    monkeypatch.setattr("requests.request", lambda *a, **k: (_ for _ in ()).throw(requests.ConnectionError()))
    with pytest.raises(ConnectError, match="http://down:8083, http://up:8084 are unreachable"):
        client.connectors()


class Reply:
    def __init__(self, status_code: int, text: str) -> None:
        self.status_code = status_code
        self.text = text


def scripted_requests(monkeypatch, replies):
    calls = []

    def request(method, url, json=None, timeout=None):
        calls.append((method, url))
        return replies.pop(0)

    monkeypatch.setattr("requests.request", request)
    monkeypatch.setattr("time.sleep", lambda _s: None)
    return calls


def test_a_stale_configuration_conflict_is_waited_out_like_a_rebalance(monkeypatch):
    # Seen in `outboxkit cdc recover`: a connector's offsets reset right after another connector's config
    # change, before the worker had read it.
    stale = '{"error_code":409,"message":"Cannot complete request momentarily due to stale configuration"}'
    rebalancing = '{"error_code":409,"message":"Cannot complete request momentarily due to rebalance"}'
    calls = scripted_requests(monkeypatch, [Reply(409, stale), Reply(409, rebalancing), Reply(200, "{}")])
    ConnectClient("http://connect:8083").reset_offsets("payment-outbox")
    assert calls == [("DELETE", "http://connect:8083/connectors/payment-outbox/offsets")] * 3


def test_a_conflict_that_is_an_answer_is_not_retried(monkeypatch):
    running = '{"error_code":400,"message":"Connectors must be in the STOPPED state"}'
    calls = scripted_requests(monkeypatch, [Reply(409, running), Reply(200, "{}")])
    with pytest.raises(ConnectError, match="STOPPED state"):
        ConnectClient("http://connect:8083").reset_offsets("payment-outbox")
    assert len(calls) == 1
