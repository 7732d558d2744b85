"""Background work: a job queue in the database, claimed with leases, run by workers."""

from __future__ import annotations
