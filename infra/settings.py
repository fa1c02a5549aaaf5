"""One typed configuration for every process (API node, worker, CLI).

Read from environment variables prefixed ``TRUC_`` (``TRUC_KAFKA=127.0.0.1:9092``), an
optional ``truc.env`` file in the working directory, then command-line flags, which win.
No Kafka and no Cassandra configured means the embedded default: one SQLite file.
"""

from __future__ import annotations

import socket
from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from hub.registry.webhook_targets import parse_policy


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TRUC_", env_file="truc.env", extra="ignore")

    data_dir: Path = Path("truc-data")
    host: str = "127.0.0.1"
    port: int = 8080
    access_log: bool = True
    """uvicorn's line per request on stdout; it cost ≈ 15% of the API's CPU per small request
    (docs/benchmarks.md, *Hot HTTP path*): turn it off behind a proxy that logs already."""
    log_format: str = "plain"
    """``plain`` (a terminal) or ``json`` (one object per line, for a log shipper): the
    request lines (with request id, app, agency, package) and the domain events handled."""
    console_lockout_failures: int = 5
    """Console logins: this many wrong passwords in a row lock the account …"""
    console_lockout_minutes: float = 15
    """… for this long."""
    console_session_hours: float = 8
    node_id: str = ""
    """This API node's name in presence events; default ``<hostname>:<port>``."""

    kafka: str | None = None
    """Kafka bootstrap servers, comma separated. Set together with ``cassandra``."""
    cassandra: str | None = None
    """Cassandra contact points as host:port, comma separated."""
    keyspace: str = "truc"
    topic_prefix: str = "truc."
    partitions: int = 6
    replication: int = Field(default=1, ge=1)
    """Replication factor for topics and the keyspace: 1 on one machine, ≥3 in production."""
    cassandra_datacenter: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,48}$")
    """The Cassandra data centre this node talks to (as its snitch names it, e.g.
    ``datacenter1``): the keyspace is then made with NetworkTopologyStrategy and reads and
    writes go at LOCAL_QUORUM. Unset: SimpleStrategy and QUORUM."""
    worker_web_port: int = 6066
    worker_instance: str | None = Field(default=None, pattern=r"^[A-Za-z0-9._-]{1,64}$")
    """A stable name for this worker, unique in the group (``worker1``, the host name…):
    Kafka's static membership. A worker restarted under the same name within its session
    (10 s) takes its partitions back with no rebalance of the others. Unset: dynamic."""
    worker_rebalance_seconds: float = Field(default=15, ge=5)
    """How long a rebalance of the workers' group waits for every member to rejoin. Faust's
    60 s default made a worker killed and restarted within its session stop the whole group
    for a minute (the group waited for the dead member); see docs/reliability.md."""

    domain: str = "truc.local"
    """The province's mail domain: agency accounts are ``<code>@<domain>``."""
    hub_name: str = ""
    """This hub's name in a forwarded package's trace (zones: ``docs/zones.md``); unique
    among the hubs that forward to each other. Empty: the domain."""
    zone_retry_seconds: float = Field(default=1.0, gt=0)
    """First wait after a failed forwarding step (peer unreachable…); doubles to 60 s."""
    zone_poll_seconds: float = Field(default=2.0, gt=0)
    """How often a forwarded delivery's state is read from the peer hub."""
    zone_poll_max_seconds: float = Field(default=30.0, gt=0)
    """A forwarded delivery where nothing happens is read less and less often, up to this."""
    zone_follow_days: float = Field(default=30, gt=0)
    """How long statuses are still brought back after the peer's acknowledgement (until
    a final status, 02 or 06, comes first)."""
    axis_poll_seconds: float = Field(default=30.0, gt=0)
    """How often the gateway asks the upstream national axis what it holds for this hub
    (``getReceivedEdocList``: docs/national-axis.md)."""
    region: str = "vn"
    """Signing region published at ``GET /v1/time`` (credential scope date/region/service)."""
    service: str = "truc"
    max_skew_seconds: int = 300
    public_hosts: str = ""
    """The host names (``host`` or ``host:port``, comma separated) clients reach the hub
    by: a signed request for any other Host is refused (``wrong_host``). Empty: any."""
    key_overlap_hours: float = 168
    session_ttl_seconds: int = 300
    master_key: str | None = None
    """Base64 of 32 random bytes; the same on every node. Embedded: made on first start."""
    master_key_file: Path | None = None
    signing_roots_file: Path | None = None
    """A PEM bundle of the root CA certificates the hub trusts for XML signatures on edXML
    documents (the government's signing root): with it, a document from an agency that
    must sign is refused unless its signer's certificate chains to one of them
    (``certificate_untrusted_chain``). Without it, chains are not checked."""
    signing_crls_file: Path | None = None
    """A PEM file of CRLs (kept fresh by the operator: the hub fetches none): a signer's
    certificate, or a CA on its chain, that a CRL signed by its issuer lists is
    ``certificate_revoked`` for an agency that must sign."""

    chunk_bytes: int = 1024 * 1024
    """Upload chunk size granted with each space (1 MiB fits Cassandra's mutation limit)."""
    max_package_bytes: int = 4 * 1024**3
    space_ttl_minutes: float = 24 * 60
    space_sweep_grace_minutes: float = Field(default=10, ge=0)
    """A space expired unsealed this long ago is rejected (``space_expired``) and what was
    uploaded into it destroyed; the grace lets a seal begun before expiry finish."""
    max_body_bytes: int = Field(default=1024 * 1024, gt=0)
    """The largest request body but a chunk (whose limit is ``chunk_bytes``): 413 beyond it,
    before a byte is read when Content-Length says so, else as soon as it is passed."""
    max_json_depth: int = Field(default=64, ge=1)
    """JSON nested deeper than this is refused (400 ``json_too_deep``) before it is parsed."""
    header_timeout_seconds: float = Field(default=10, gt=0)
    """A request's line and headers must be in within this time of its first byte (or of
    the connection, for its first request); else the connection is closed (408)."""
    body_timeout_seconds: float = Field(default=15, gt=0)
    """A body must make progress at least this often; else 408 and the connection closed."""
    body_min_rate: int = Field(default=1024, ge=0)
    """Bytes per second a body must average once it has taken ``body_timeout_seconds``
    (0: no minimum): a body sent a byte at a time is cut off too."""
    webhook_retry_seconds: float = 1.0
    """First retry delay of a failed webhook; doubles each time, 8 attempts in all."""
    webhook_allow_hosts: str = ""
    """Webhook targets an operator allows beyond https to public addresses: host names
    (reachable over http too, resolving anywhere) and IP addresses or networks (which
    may then be private), separated by commas (``hooks.stp.gov.vn,10.20.0.0/16``)."""
    webhook_resume_seconds: float = Field(default=30, gt=0)
    """How often the webhook outbox is read for posts nobody is retrying (after a restart
    or a rebalance); the embedded hub also reads it at start."""
    smtp_host: str | None = None
    """The mail server alerts go through (``hub/alerts``); unset: mail alerts fail, are
    recorded so and retried (set it and they go out)."""
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_from: str = ""
    """The alerts' sender address; default ``truc@<domain>``."""
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    """Upgrade the connection with STARTTLS before logging in (port 587)."""
    smtp_timeout_seconds: float = Field(default=15, gt=0)
    alert_seconds: float = Field(default=60, gt=0)
    """How often the alert sweep looks for alerts due and contacts to tell (again)."""
    alert_retry_seconds: float = Field(default=60, gt=0)
    """First retry delay of an alert that could not be sent; doubles, up to an hour."""
    alert_attempts: int = Field(default=10, ge=1)
    """Attempts per alert and contact before the hub gives up (recorded ``gave_up``)."""
    time_zone: str = "Asia/Ho_Chi_Minh"
    """The hub's local time zone: statistics and history count by its dates and hours.
    Changing it on a running hub leaves the old rows; rebuild with ``truc replay``."""
    read_your_writes_seconds: float = 10
    """How long a call waits for the processors to show its own change before 503."""
    retry_after_seconds: int = Field(default=2, ge=1)
    """``Retry-After`` of every 503 (an engine down, a processor behind)."""
    idempotency_lease_seconds: float = Field(default=60, gt=0)
    """How long a send (by its Idempotency-Key) or an ack claimed by one call is left to
    it: a concurrent retry waits for its outcome meanwhile, and takes over after. Longer
    than an append may take (the Kafka producer gives up after 40 s)."""
    fetch_lease_seconds: float = Field(default=30, gt=0)
    """A content fetch in progress renews a lease this long; the shredder deletes no chunk
    of the package while a live lease stands (see ``shred_wait_seconds``)."""
    shred_wait_seconds: float = Field(default=600, ge=0)
    """How long the shredder waits, at most, for fetches in progress to finish before it
    deletes a package's chunks anyway (the key is deleted at once: no new fetch starts)."""
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

    @field_validator("webhook_allow_hosts")
    @classmethod
    def _a_policy(cls, value: str) -> str:
        parse_policy(value)  # a mistyped network is refused at start, not at first use
        return value

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
    def public_host_names(self) -> frozenset[str]:
        return frozenset(h.strip().lower() for h in self.public_hosts.split(",") if h.strip())

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
