"""Durable job queues, their storage backends, and the limiters that pace them."""

from .job import Job, JobFailure, JobStatus
from .limiters import (
    CompositeLimiter,
    ConcurrencyLimiter,
    DelayLimiter,
    Limiter,
    RateLimiter,
)
from .queue import JobQueue, QueueRegistry, job_fingerprint, queues
from .retry import RetryPolicy
from .storage import QueueStorage, RateLimitStorage, create_queue_storage, open_queue_storage
from .task import JobQueueTask, task_type_handler
from .worker import JobContext, Worker, WorkerStats

__all__ = [
    "CompositeLimiter",
    "ConcurrencyLimiter",
    "DelayLimiter",
    "Job",
    "JobContext",
    "JobFailure",
    "JobQueue",
    "JobQueueTask",
    "JobStatus",
    "Limiter",
    "QueueRegistry",
    "QueueStorage",
    "RateLimitStorage",
    "RateLimiter",
    "RetryPolicy",
    "Worker",
    "WorkerStats",
    "create_queue_storage",
    "job_fingerprint",
    "open_queue_storage",
    "queues",
    "task_type_handler",
]
