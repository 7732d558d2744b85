"""Temporal as the run engine (``AGENTDECK_ENGINE=temporal``): one run is one workflow.

`workflow` drives the embedded engine's pure planner; `activities` run node attempts with
the embedded node executors and write agentdeck's journal (`journal`), so every reader of
runs works unchanged; `client` starts, cancels and resumes workflows for the run service;
`worker` wires it all into `agentdeck worker`. Needs the `temporal` extra.
"""

from __future__ import annotations
