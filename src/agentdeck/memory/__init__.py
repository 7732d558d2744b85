"""Memory of conversational agents: thread conversations with summaries, long-term memories."""
