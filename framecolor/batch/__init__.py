"""Batch jobs over whole collections of photos and films, locally or on a Ray cluster.

job: the settings, the items (files, folders, CSV manifests) and the job folder that records each
item's state; work: what a worker does with an item; local and ray_runner: who does it; scenes:
one film split at its scene cuts. Nothing heavy (torch, ray) is imported here.
"""
from __future__ import annotations

from .job import BatchSettings, JobFolder, find_items
from .run import run_batch

__all__ = ["BatchSettings", "JobFolder", "find_items", "run_batch"]
