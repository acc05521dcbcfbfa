"""The run meter as the embedded engine sees it: its cancel token, and the prior's calls counted."""

import concurrent.futures

import dspy

from engine.evaluation import _in_context
from engine.jobs.events import LMCallFinished
from engine.jobs.instrument import RunMeter
from engine.lms.embedded import RUN_CONTEXT_KEY, _current_run


def test_the_run_is_found_in_the_dspy_context_by_the_caller_and_by_pool_threads():
    meter = RunMeter()
    assert _current_run() is None
    with meter.context():
        assert _current_run() is meter and dspy.settings.get(RUN_CONTEXT_KEY) is meter
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            assert pool.submit(_in_context(_current_run)).result() is meter
    assert _current_run() is None


def test_calibration_prompts_count_as_calls_and_prompt_tokens_but_not_as_cache_hits():
    events = []
    meter = RunMeter(sink=events.append)
    meter.before_lm_call()
    meter.add_usage("embedded/x", {"prompt_tokens": 100, "completion_tokens": 3})
    meter.add_calibration(19, 1700)
    meter.after_lm_call(succeeded=True)
    assert (meter.real_calls, meter.calibration_calls, meter.cached_calls) == (20, 19, 0)
    assert meter.tokens == {"prompt": 1800, "completion": 3} and meter.calibration_tokens == 1700
    last = [e for e in events if isinstance(e, LMCallFinished)][-1]
    assert (last.total_calls, last.total_prompt_tokens, last.cost_usd) == (20, 1800, 0.0)
