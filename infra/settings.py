"""One typed configuration for every process (API node, worker, CLI).

Read from environment variables prefixed ``TRUC_`` (``TRUC_KAFKA=127.0.0.1:9092``), an
optional ``truc.env`` file in the working directory, then command-line flags, which win.
No Kafka and no Cassandra configured means the embedded default: one SQLite file.
"""

from __future__ import annotations

import socket
from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TRUC_", env_file="truc.env", extra="ignore")

    data_dir: Path = Path("truc-data")
    host: str = "127.0.0.1"
    port: int = 8080
    access_log: bool = True
    """uvicorn's line per request on stdout; it cost ≈ 15% of the API's CPU per small request
    (docs/benchmarks.md, *Hot HTTP path*): turn it off behind a proxy that logs already."""
    node_id: str = ""
    """This API node's name in presence events; default ``<hostname>:<port>``."""

    kafka: str | None = None
    """Kafka bootstrap servers, comma separated. Set together with ``cassandra``."""
    cassandra: str | None = None
    """Cassandra contact points as host:port, comma separated."""
    keyspace: str = "truc"
    topic_prefix: str = "truc."
    partitions: int = 6
    replication: int = 1
    """Replication factor for topics and the keyspace: 1 on one machine, ≥3 in production."""
    worker_web_port: int = 6066

    domain: str = "truc.local"
    """The province's mail domain: agency accounts are ``<code>@<domain>``."""
    region: str = "vn"
    """Signing region published at ``GET /v1/time`` (credential scope date/region/service)."""
    service: str = "truc"
    max_skew_seconds: int = 300
    key_overlap_hours: float = 168
    session_ttl_seconds: int = 300
    master_key: str | None = None
    """Base64 of 32 random bytes; the same on every node. Embedded: made on first start."""
    master_key_file: Path | None = None

    chunk_bytes: int = 1024 * 1024
    """Upload chunk size granted with each space (1 MiB fits Cassandra's mutation limit)."""
    max_package_bytes: int = 4 * 1024**3
    space_ttl_minutes: float = 24 * 60
    space_sweep_grace_minutes: float = Field(default=10, ge=0)
    """A space expired unsealed this long ago is rejected (``space_expired``) and what was
    uploaded into it destroyed; the grace lets a seal begun before expiry finish."""
    webhook_retry_seconds: float = 1.0
    """First retry delay of a failed webhook; doubles each time, 8 attempts in all."""
    webhook_resume_seconds: float = Field(default=30, gt=0)
    """How often the webhook outbox is read for posts nobody is retrying (after a restart
    or a rebalance); the embedded hub also reads it at start."""
    time_zone: str = "Asia/Ho_Chi_Minh"
    """The hub's local time zone: statistics and history count by its dates and hours.
    Changing it on a running hub leaves the old rows; rebuild with ``truc replay``."""
    read_your_writes_seconds: float = 10
    """How long a call waits for the processors to show its own change before 503."""
    watchdog_seconds: float = Field(default=5.0, gt=0)
    """How often the watchdog looks for deliveries to expire (deadline, offline, receiver)."""
    receiver_wait_seconds: float = Field(default=24 * 3600, ge=0)
    """How long a delivery waits for its destination's first receiving app when the source
    set no ``offline_wait_seconds`` (Điều 5.9: the source is told at once and decides)."""
    heartbeat_seconds: float = Field(default=30, gt=0)
    """Presence: an app is online while its stream answers within this interval or it
    made a signed call within it; nodes beat (``NodeHeartbeat``) at this interval too."""
    node_missed_heartbeats: int = Field(default=3, ge=1)
    """A node silent for this many heartbeats is lost: its connections end (node_lost)."""

    @model_validator(mode="after")
    def _name_the_node(self) -> Settings:
        if not self.node_id:
            self.node_id = f"{socket.gethostname()}:{self.port}"
        return self

    @property
    def distributed(self) -> bool:
        return bool(self.kafka or self.cassandra)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "truc.sqlite3"

    def check(self) -> None:
        """Refuses half a distributed configuration rather than guessing."""
        if bool(self.kafka) != bool(self.cassandra):
            raise ValueError("set both --kafka and --cassandra (or neither, for the embedded hub)")

    def cassandra_hosts(self) -> tuple[list[str], int]:
        hosts, port = [], 9042
        for item in (self.cassandra or "").split(","):
            host, _, maybe_port = item.strip().partition(":")
            hosts.append(host)
            port = int(maybe_port) if maybe_port else port
        return hosts, port
