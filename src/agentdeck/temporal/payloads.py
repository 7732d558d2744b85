"""Large payloads outside the workflow history: Temporal's external storage, on our database.

Temporal keeps every workflow input, activity argument and result in the history, which
has hard limits (2 MB a payload, 50 MB a history by default) and is replayed in full. A
payload of `temporal.payload_limit_bytes` or more is stored in `temporal_payloads` instead,
keyed by the SHA-256 of its bytes (stored once however often it recurs), and the history
holds a reference. The SDK resolves references wherever payloads are read (workers, the
client, the `Replayer`), so the workflow code never sees the difference.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import (
    DataConverter,
    ExternalStorage,
    StorageDriver,
    StorageDriverClaim,
    StorageDriverRetrieveContext,
    StorageDriverStoreContext,
    StorageDriverWorkflowInfo,
)

from agentdeck.kit.db import transaction
from agentdeck.temporal.repository import load_payloads, store_payloads

DRIVER = "agentdeck.db"


class DatabaseStorageDriver(StorageDriver):
    """Temporal payloads in agentdeck's database (`temporal_payloads`)."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.sessionmaker = sessionmaker

    def name(self) -> str:
        return DRIVER

    def type(self) -> str:
        return DRIVER

    async def store(
        self, context: StorageDriverStoreContext, payloads: Sequence[Payload]
    ) -> list[StorageDriverClaim]:
        """Store each payload (once per digest); a claim naming its digest."""
        blobs = []
        for payload in payloads:
            data = payload.SerializeToString()
            blobs.append((hashlib.sha256(data).hexdigest(), data))
        target = context.target
        workflow_id = target.id if isinstance(target, StorageDriverWorkflowInfo) else None
        async with transaction(self.sessionmaker) as session:
            await store_payloads(session, blobs, workflow_id)
        return [StorageDriverClaim(claim_data={"digest": digest}) for digest, _ in blobs]

    async def retrieve(
        self, context: StorageDriverRetrieveContext, claims: Sequence[StorageDriverClaim]
    ) -> list[Payload]:
        """The stored payloads; LookupError naming a digest that is not stored."""
        digests = [claim.claim_data["digest"] for claim in claims]
        async with self.sessionmaker() as session:
            found = await load_payloads(session, digests)
        missing = [d for d in digests if d not in found]
        if missing:
            raise LookupError(f"temporal payload {missing[0]} is not in temporal_payloads")
        return [Payload.FromString(found[d]) for d in digests]


def data_converter(
    sessionmaker: async_sessionmaker[AsyncSession] | None, limit_bytes: int
) -> DataConverter:
    """Pydantic conversion; payloads of ``limit_bytes`` or more stored in the database
    (none when ``limit_bytes`` is 0 or there is no database)."""
    if sessionmaker is None or limit_bytes <= 0:
        return pydantic_data_converter
    storage = ExternalStorage(
        drivers=[DatabaseStorageDriver(sessionmaker)], payload_size_threshold=limit_bytes
    )
    return dataclasses.replace(pydantic_data_converter, external_storage=storage)


__all__ = ["DRIVER", "DatabaseStorageDriver", "data_converter"]
