"""A cache of the network's markets and nodes, filled by the sync service."""

from __future__ import annotations

from django.db import models


class QueueType(models.TextChoices):
    JOBS = "jobs", "Jobs waiting"
    NODES = "nodes", "Nodes idle"
    EMPTY = "empty", "Empty"


class Market(models.Model):
    network = models.CharField(max_length=16, db_index=True)
    address = models.CharField(max_length=64)
    name = models.CharField(max_length=120, blank=True, help_text="from the curated list; blank if unknown")
    gpu = models.CharField(max_length=120, blank=True)
    vram_gb = models.IntegerField(null=True, blank=True)
    price = models.BigIntegerField(help_text="NOS base units per second")
    timeout = models.BigIntegerField(help_text="market job timeout, seconds")
    job_expiration = models.BigIntegerField(default=0)
    job_type = models.IntegerField(default=0)
    queue_type = models.CharField(max_length=8, choices=QueueType.choices, default=QueueType.EMPTY)
    queue = models.JSONField(default=list, help_text="addresses, next first")
    idle_nodes = models.IntegerField(default=0)
    jobs_waiting = models.IntegerField(default=0)
    running_jobs = models.IntegerField(default=0)
    node_access_key = models.CharField(max_length=64, blank=True, help_text="blank: open market")
    node_xnos_minimum = models.DecimalField(max_digits=40, decimal_places=0, default=0)
    # Sparklines drawn at sync time from the snapshots ({"price"|"idle"|"waiting": {points, low,
    # high, last}}), so the markets page reads one row per market instead of 48 snapshots each.
    sparks = models.JSONField(default=dict, blank=True)
    synced_at = models.DateTimeField()

    class Meta:
        ordering = ["network", "price"]
        constraints = [models.UniqueConstraint(fields=["network", "address"], name="market_unique_address")]

    def __str__(self) -> str:
        return self.name or self.address


class MarketSnapshot(models.Model):
    market = models.ForeignKey(Market, on_delete=models.CASCADE, related_name="snapshots")
    taken_at = models.DateTimeField(db_index=True)
    price = models.BigIntegerField()
    idle_nodes = models.IntegerField()
    jobs_waiting = models.IntegerField()
    running_jobs = models.IntegerField()

    class Meta:
        ordering = ["market", "taken_at"]
        # The latest snapshots of a market (sparklines at sync time, the market page's chart).
        indexes = [models.Index(fields=["market", "-taken_at"], name="snapshot_market_latest")]

    def __str__(self) -> str:
        return f"{self.market_id}@{self.taken_at:%Y-%m-%d %H:%M}"


class Node(models.Model):
    network = models.CharField(max_length=16, db_index=True)
    address = models.CharField(max_length=64)
    market = models.CharField(max_length=64, blank=True)
    current_job = models.CharField(max_length=64, blank=True)
    jobs_done = models.IntegerField(default=0)
    jobs_succeeded = models.IntegerField(default=0)
    total_duration = models.BigIntegerField(default=0, help_text="seconds over jobs_done")
    last_seen = models.DateTimeField(null=True, blank=True)
    # Specs only when the node's info endpoint answered; never guessed.
    specs = models.JSONField(null=True, blank=True)
    specs_checked_at = models.DateTimeField(null=True, blank=True)
    synced_at = models.DateTimeField()

    class Meta:
        ordering = ["network", "address"]
        constraints = [models.UniqueConstraint(fields=["network", "address"], name="node_unique_address")]

    def __str__(self) -> str:
        return self.address


class SyncRun(models.Model):
    """One market sync: its progress is shown beside the Refresh button."""

    network = models.CharField(max_length=16)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    progress = models.IntegerField(default=0, help_text="percent")
    message = models.CharField(max_length=300, blank=True)
    ok = models.BooleanField(null=True)

    class Meta:
        # Every markets page asks for the latest sync of its network; one row per sync accumulates.
        indexes = [models.Index(fields=["network", "-started_at"], name="syncrun_network_latest")]

    def __str__(self) -> str:
        return f"sync {self.network} #{self.pk}"


class NetworkJob(models.Model):
    """A job account as the network last reported it: the per-market and per-node history.

    Filled by the sync from `Network.list_jobs(market=…)`; durations and costs on the
    market and node pages come from here (and from `jobs.Job` for jobs posted here).
    """

    network = models.CharField(max_length=16)
    address = models.CharField(max_length=64)
    market = models.CharField(max_length=64)
    node = models.CharField(max_length=64, blank=True)
    ipfs_job = models.CharField(max_length=64, blank=True)
    has_result = models.BooleanField(default=False)
    state = models.CharField(max_length=16, help_text="displayed state: QUEUED, RUNNING, COMPLETED, STOPPED")
    # u64 on chain: may exceed a signed 64-bit column.
    price = models.DecimalField(max_digits=20, decimal_places=0, default=0, help_text="NOS base units per second")
    timeout = models.BigIntegerField(default=0)
    time_start = models.BigIntegerField(default=0, help_text="unix seconds, 0 before start")
    time_end = models.BigIntegerField(default=0, help_text="unix seconds, 0 before end")
    synced_at = models.DateTimeField()

    class Meta:
        ordering = ["network", "-time_end"]
        constraints = [models.UniqueConstraint(fields=["network", "address"], name="networkjob_unique_address")]
        indexes = [
            models.Index(fields=["network", "market", "-time_start"]),
            models.Index(fields=["network", "node", "-time_start"]),
            models.Index(fields=["network", "ipfs_job"]),
        ]

    def __str__(self) -> str:
        return self.address

    @property
    def duration(self) -> int | None:
        if self.time_start and self.time_end and self.time_end >= self.time_start:
            return self.time_end - self.time_start
        return None

    @property
    def cost(self) -> int | None:
        """NOS base units paid for the time run (price × duration)."""
        duration = self.duration
        return None if duration is None else duration * int(self.price)


class PriceQuote(models.Model):
    """The NOS price in USD from the configured price source (only when one is set)."""

    usd_per_nos = models.DecimalField(max_digits=20, decimal_places=8)
    fetched_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-fetched_at"]

    def __str__(self) -> str:
        return f"{self.usd_per_nos} USD/NOS"
