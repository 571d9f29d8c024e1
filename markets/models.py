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
