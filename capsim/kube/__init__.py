"""Edges to real clusters: manifests in and out, live metrics, deploy.

Nothing here imports the ``kubernetes`` client at import time; modules that need it
import it lazily (extra ``kube``).
"""
