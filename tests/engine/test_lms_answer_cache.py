"""Only answers that parse are cached; one reply cannot be bigger than max_tokens allows.

Against the fake OpenAI-compatible server (its "prose" and "huge" faults); the same rule on the
real llama-cpp-python server is in tests/integration/test_llama_server.py."""

from __future__ import annotations

import dspy
import pytest
from dspy.utils.exceptions import AdapterParseError

from engine.cache import human_size
from engine.errors import ModelError
from engine.lms.answer_cache import cache_key
from engine.lms.connect import connect
from engine.lms.profiles import ModelProfile
from tests.fakes.fixtures import fast_backoff, fresh_engines, no_real_keyring, sample_triage_project  # noqa: F401
from tests.fakes.openai_server import FakeOpenAI

SIGNATURE = "ticket -> urgency: Literal['low', 'medium', 'high']"


@pytest.fixture
def disk_cache(tmp_path):
    """DSPy's process-wide cache on a folder of this test (as a project's compile sets it); restored after."""
    previous = vars(dspy).get("cache")
    folder = tmp_path / "lm-cache"

    def open_cache():  # a new Cache object on the same folder: what the next run of the app sees
        dspy.configure_cache(enable_disk_cache=True, enable_memory_cache=True, disk_cache_dir=str(folder))
        return dspy.cache

    open_cache()
    yield open_cache
    if previous is None:
        vars(dspy).pop("cache", None)
    else:
        dspy.cache = previous


def _profile(server, **extra) -> ModelProfile:
    return ModelProfile(name="srv", provider="openai-compatible", model="gpt-4o-mini", base_url=server.url, **extra)


def _ask(connected, text="my parcel is late"):
    with dspy.context(lm=connected.lm, adapter=connected.adapter):
        return dspy.Predict(SIGNATURE)(ticket=text)


def _folder_bytes(folder) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def test_an_answer_that_did_not_parse_is_not_replayed_on_the_next_run(disk_cache):
    with FakeOpenAI() as server:
        connected = connect(_profile(server), probe=False)
        server.fail("prose", count=1)  # a 200 whose content is not the JSON asked for
        with pytest.raises(AdapterParseError):
            _ask(connected)
        assert server.chat_calls == 1
        assert _ask(connected).urgency == "low"  # same process: asked again, not replayed
        assert server.chat_calls == 2

        server.fail("prose", count=1)
        with pytest.raises(AdapterParseError):
            _ask(connected, "the app crashes")
        disk_cache()  # a later run: a fresh cache object on the same folder, the server healthy again
        assert _ask(connect(_profile(server), probe=False), "the app crashes").urgency == "low"
        assert server.chat_calls == 4


def test_an_answer_that_parsed_is_answered_from_the_cache(disk_cache):
    with FakeOpenAI() as server:
        connected = connect(_profile(server), probe=False)
        assert _ask(connected).urgency == "low"
        disk_cache()
        assert _ask(connect(_profile(server), probe=False)).urgency == "low"
        assert server.chat_calls == 1


def test_the_eviction_key_is_dspys_own_cache_key(disk_cache):
    # Pins DSPy's internal API the guard uses (dspy.clients.execution.prepare / PreparedCall.key).
    with FakeOpenAI() as server:
        connected = connect(_profile(server), probe=False)
        connected.lm("hello", temperature=0.0)
        key = cache_key(connected.lm, {"prompt": "hello", "messages": None, "kwargs": {"temperature": 0.0}})
        assert key in dspy.cache.memory_cache and key in dspy.cache.disk_cache


def test_a_reply_bigger_than_max_tokens_allows_is_dropped_before_it_reaches_the_cache(disk_cache, tmp_path):
    with FakeOpenAI(huge_bytes=20_000_000) as server:
        connected = connect(_profile(server, max_tokens=40), probe=False)
        server.fail("huge")  # ignores max_tokens: 20 MB of content for a 40-token answer
        before = _folder_bytes(tmp_path / "lm-cache")
        with pytest.raises(ModelError, match=r"sent more than 17,280 bytes for one answer of at most 40 tokens"):
            _ask(connected)
        assert server.chat_calls == 1  # not retried
        grown = _folder_bytes(tmp_path / "lm-cache") - before
        assert grown < 100_000, human_size(grown)
        server.fail(None)
        assert _ask(connected).urgency == "low"


def test_evaluate_asks_again_for_the_rows_whose_answers_did_not_parse(sample_triage_project, capsys):
    import json

    from engine.cli.main import main
    from engine.lms import manage

    project = sample_triage_project
    with FakeOpenAI() as server:
        manage.add_profile("lab", provider="openai-compatible", model="gpt-4o-mini", base_url=server.url)
        argv = ["evaluate", str(project.root), "--baseline", "--split", "validation", "--limit", "4", "--model", "lab",
                "--json"]
        server.fail("prose", count=3)  # the first calls answer prose (connect's 5-token probe among them)
        assert main(argv) == 0
        first = json.loads(capsys.readouterr().out)
        failed = first["parse_failures"]
        assert failed >= 1 and first["lm_calls"] == 4
        assert main(argv) == 0  # the server is healthy now: only the rows that did not parse are asked again
        second = json.loads(capsys.readouterr().out)
    assert second["parse_failures"] == 0 and second["lm_calls"] == failed and second["cached_calls"] == 4 - failed
