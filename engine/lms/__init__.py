"""Language models: profiles (what to call), connections (a ready `dspy.LM`), exact revisions.

    profiles        ModelProfile; the user's models.toml merged with a project's [models.NAME]
    keys            API keys in the OS keyring (env-var fallback), scrubbing of secrets
    connect         connect(profile) -> ConnectedLM; test_connection(profile) -> ConnectionReport
    manage          the Models pane's API: list / add / remove / key / test / describe / pull
    revision_watch  RevisionWatch(connected): did the answering revision change mid-run?
    embedded        llama.cpp in process (LlamaEngine)
    ollama_api      OllamaAdmin (list, show, pull) and OllamaEngine (/api/chat, schema as `format`)
    openai_compat   OpenAICompatEngine ({base_url}/chat/completions), replies capped by max_tokens
    json_modes      the response format each OpenAI-compatible server took, remembered between runs
    answer_cache    only answers the adapter parsed stay in DSPy's LM cache
    pricing         what a call costs: $0 on this machine, the profile's prices, LiteLLM's, or unknown
    hosted          HostedLM: LiteLLM providers through dspy.LM(engine="litellm")
    reliability     retries with backoff, the per-profile concurrency bound, the revision observer
"""
