"""JobWorker and EventBridge: outcomes as signals, cancel, shutdown, and throttled events."""

from __future__ import annotations

import logging
import time

import pytest

from tests.desktop.conftest_b import no_dangling_qthreads, running_job_threads  # noqa: F401

from desktop import worker as worker_module  # noqa: E402
from desktop.worker import EventBridge, JobWorker  # noqa: E402
from engine.errors import WorkbenchError  # noqa: E402
from engine.jobs.control import RunCancelled  # noqa: E402
from engine.jobs.events import LMCallFinished, LogLine, Progress, StageStarted  # noqa: E402

pytestmark = [pytest.mark.qt_log_level_fail("WARNING"), pytest.mark.usefixtures("no_dangling_qthreads")]


@pytest.fixture
def worker(qtbot):
    w = JobWorker("test")
    yield w
    w.shutdown(5000)


def test_result_arrives_after_started_then_done(worker, qtbot):
    with qtbot.waitSignals([worker.started, worker.finished, worker.done], order="strict", timeout=5000):
        worker.start(lambda: 42)
    assert worker.result == 42
    assert not worker.is_running()
    assert not running_job_threads()


def test_workbench_error_becomes_its_message(worker, qtbot):
    def fail():
        raise WorkbenchError("the validation split is empty; assign examples to it")

    with qtbot.waitSignal(worker.failed, timeout=5000) as b:
        worker.start(fail)
    assert b.args == ["the validation split is empty; assign examples to it"]


def test_a_bug_becomes_a_short_message_and_a_logged_traceback(worker, qtbot, caplog):
    def bug():
        return {}["missing"]

    with caplog.at_level(logging.ERROR, logger="desktop.worker"):
        with qtbot.waitSignal(worker.failed, timeout=5000) as b:
            worker.start(bug)
    assert b.args == ["KeyError: 'missing'"]
    assert "Traceback" in caplog.text and "bug" in caplog.text


def test_cancel_sets_the_token_and_reports_cancelled(worker, qtbot):
    token = worker.new_token()

    def job():
        while not token.wait(0.01):
            pass
        raise RunCancelled()

    with qtbot.waitSignal(worker.cancelled, timeout=5000):
        worker.start(job)
        worker.cancel()
    assert token.cancelled


def test_a_job_that_returns_after_cancel_is_reported_cancelled_with_its_result(worker, qtbot):
    token = worker.new_token()

    def job():
        token.wait(5)
        return "partial record"

    with qtbot.waitSignal(worker.cancelled, timeout=5000):
        worker.start(job)
        worker.cancel()
    assert worker.result == "partial record"


def test_each_run_gets_a_fresh_token(worker, qtbot):
    first = worker.new_token()
    with qtbot.waitSignal(worker.cancelled, timeout=5000):
        worker.start(lambda: first.wait(5))
        worker.cancel()
    second = worker.new_token()
    assert second is not first and not second.cancelled and first.cancelled


def test_shutdown_cancels_and_waits(worker):
    token = worker.new_token()
    worker.start(lambda: token.wait(10))
    assert worker.shutdown(5000)
    assert not worker.is_running()
    assert not running_job_threads()


def test_shutdown_timeout_keeps_the_thread_alive_until_it_ends(qtbot):
    w = JobWorker("stubborn")
    w.start(lambda: time.sleep(0.5))  # ignores the token
    assert not w.shutdown(20)
    assert worker_module._ORPHANS
    qtbot.waitUntil(lambda: not worker_module._ORPHANS, timeout=5000)
    assert not running_job_threads()


def test_progress_is_throttled_and_nothing_else_is_dropped(worker, qtbot):
    received = []
    worker.event.connect(received.append)
    sink = worker.sink

    def job():
        sink(StageStarted("compile", 5000))
        for i in range(1, 5001):
            sink(Progress("compile", i, 5000))
            sink(LMCallFinished(1, 1, i, 0, i, i))
            if i % 1000 == 0:
                sink(LogLine(f"line {i}"))
            if i % 50 == 0:
                time.sleep(0.002)  # about 0.2 s of "work"
        return "ok"

    started = time.monotonic()
    with qtbot.waitSignal(worker.done, timeout=10_000):
        worker.start(job)
    elapsed = time.monotonic() - started
    progress = [e for e in received if isinstance(e, Progress)]
    calls = [e for e in received if isinstance(e, LMCallFinished)]
    logs = [e.message for e in received if isinstance(e, LogLine)]
    assert isinstance(received[0], StageStarted)
    assert logs == [f"line {i}" for i in range(1000, 5001, 1000)]  # every one, in order
    assert progress[-1].done == 5000 and calls[-1].total_calls == 5000  # the latest always arrives
    # ~20 drains a second, plus one per log line (which separates coalesced runs) and the flush
    assert worker.bridge.delivered <= elapsed * 20 + 8
    assert len(progress) <= elapsed * 20 + 8 + len(logs)
    dones = [e.done for e in progress]
    assert dones == sorted(dones)


def test_bridge_delivers_on_the_gui_thread(qtbot):
    from PySide6.QtCore import QThread

    bridge = EventBridge()
    seen = []
    bridge.event.connect(lambda e: seen.append(QThread.currentThread()))
    w = JobWorker("thread-check")
    with qtbot.waitSignal(w.done, timeout=5000):
        w.start(lambda: bridge(LogLine("hello")))
    qtbot.waitUntil(lambda: bool(seen), timeout=2000)
    assert seen[0] is qtbot_app_thread()


def qtbot_app_thread():
    from PySide6.QtWidgets import QApplication

    return QApplication.instance().thread()
