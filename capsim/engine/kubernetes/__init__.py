"""The Kubernetes platform of the engine (:class:`KubernetesSim`) and its parts."""

from capsim.engine.kubernetes.platform import KubernetesSim

__all__ = ["KubernetesSim"]
