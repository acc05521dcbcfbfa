"""Language models: profiles (what to call), connections (a ready `dspy.LM`), exact revisions.

    profiles        ModelProfile; the user's models.toml merged with a project's [models.NAME]
    keys            API keys in the OS keyring (env-var fallback), scrubbing of secrets
    connect         connect(profile) -> ConnectedLM; test_connection(profile) -> ConnectionReport
    manage          the Models pane's API: list / add / remove / key / test / describe / pull
    revision_watch  RevisionWatch(connected): did the answering revision change mid-run?
    embedded        llama.cpp in process (LlamaEngine)
    ollama_api      OllamaAdmin (list, show, pull) and OllamaEngine (/api/chat, schema as `format`)
    openai_compat   OpenAICompatEngine ({base_url}/chat/completions)
    hosted          HostedLM: LiteLLM providers through dspy.LM(engine="litellm")
    reliability     retries with backoff, the per-profile concurrency bound, the revision observer
"""
