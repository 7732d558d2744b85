"""The approvals inbox: runs that wait for a person's answer (a human step or a tool
approval), listed and followed live over the run event bus."""
