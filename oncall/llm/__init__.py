"""The model runtime: the OpenAI-compatible chat client, tool-call parsing, the context
budget read from the server, and the llama.cpp (embedded) and vLLM server processes."""
