"""The ``engine:`` section of a task config: where the per-item work runs.

Example (every key optional; ``kind: local`` is the default)::

    engine:
      kind: ray
      address: 10.0.0.5:6379     # the head node's GCS; "auto" = the cluster this machine is in;
                                 # null = a private Ray instance started in this process
      batch_size: 4096           # items per Ray Data batch
      num_cpus: 1                # CPUs each batch task reserves
      ship_code: true            # upload this hitl_triage package with the job (py_modules)

``local_cpus`` and ``object_store_memory`` size the private instance started when ``address`` is
null; they are ignored when connecting to a running cluster.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

ADDRESS_PATTERN = re.compile(r"^(?:auto|(?:ray://)?[A-Za-z0-9_.\-\[\]:]+:\d{1,5})$")


class EngineConfig(BaseModel):
    """Where LFs (and other per-item work) run: in this process, or on a Ray cluster."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    kind: Literal["local", "ray"] = "local"
    address: str | None = Field(
        default=None,
        description="kind ray: 'host:port' of the head node's GCS (as printed by `ray start "
        "--head`), 'ray://host:10001' for Ray Client, 'auto' for the cluster this machine "
        "belongs to, or null to start a private Ray instance in this process.",
    )
    batch_size: Annotated[int, Field(ge=1, le=10_000_000)] = Field(
        default=4096, description="Items per Ray Data batch (one map_batches call)."
    )
    num_cpus: Annotated[float, Field(gt=0, le=1024)] = Field(
        default=1.0, description="CPUs each batch task reserves on the cluster."
    )
    ship_code: bool = Field(
        default=True,
        description="Upload this hitl_triage package with the job (Ray runtime_env "
        "py_modules), so worker nodes need only its dependencies installed.",
    )
    local_cpus: Annotated[int, Field(ge=1, le=4096)] | None = Field(
        default=None, description="CPUs of the private instance (address null); null = all."
    )
    object_store_memory: Annotated[int, Field(ge=78_643_200)] | None = Field(
        default=None,
        description="Bytes of object store of the private instance (address null); null = "
        "Ray's default (30 % of memory).",
    )

    @model_validator(mode="after")
    def _check_address(self) -> EngineConfig:
        if self.address is not None:
            if self.kind == "local":
                raise ValueError("engine.address is set but engine.kind is 'local'; "
                                 "set kind: ray to use the cluster")
            if not ADDRESS_PATTERN.match(self.address):
                raise ValueError(f"engine.address must be 'host:port', 'ray://host:port' or "
                                 f"'auto', got {self.address!r}")
        return self
