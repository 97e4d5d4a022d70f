"""Studies of many recordings: per-session work on a dask cluster, one model fitted by
map–reduce EM across the sessions, a study manifest, and group results.

:class:`Study` runs it (:mod:`.run`), :func:`read_manifest` reads the manifest
(:mod:`.manifest`), :func:`~faceexpr.study.cluster.connect` gives the cluster
(:mod:`.cluster`); :mod:`.tasks` holds what the workers run and :mod:`.group` the group
tables.
"""

from __future__ import annotations

from faceexpr.study.manifest import StudySession, manifest_table, read_manifest
from faceexpr.study.run import Study, StudyResult

__all__ = ["Study", "StudyResult", "StudySession", "manifest_table", "read_manifest"]
