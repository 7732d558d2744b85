"""The model host: the offline models of a server run in one child process of its own.

`host.ModelHost` is the server's side (start, restart, calls; installed as the process's
local chat engine and local embedding host), `child` is the process that loads and runs the
models, and `frames` is what they say to each other over their socket pair. The serving
process never imports torch, so the models' gigabyte of objects never sits in the heap that
serves requests and runs (issue 13).

Nothing is imported here: ``python -m agentdeck.modelhost.child`` must stay light.
"""
