"""Local fakes for tests and benchmarks: an Ollama server, an OpenAI-compatible server, a keyring.

Each server binds 127.0.0.1 on a free port, serves from daemon threads, and stops by itself at
the end of a `with` block (or at interpreter exit). Nothing here talks to the network.
"""
