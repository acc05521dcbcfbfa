"""Real servers the tests start (llama-cpp-python's OpenAI-compatible server)."""
