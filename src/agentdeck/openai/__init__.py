"""The OpenAI-compatible surface (/v1): models, chat completions, responses."""
