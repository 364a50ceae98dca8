"""Kubernetes object names and labels, checked by the API server's own rules
(k8s.io/apimachinery/pkg/util/validation), so capsim never calls an object valid that the
API server would refuse.

* **DNS-1123 label** (namespaces, container names): at most 63 characters of ``a-z``,
  ``0-9`` and ``-``, alphanumeric at both ends: ``[a-z0-9]([-a-z0-9]*[a-z0-9])?``.
* **DNS-1123 subdomain** (Deployment, PodDisruptionBudget, Ingress, Job names; Ingress
  hosts): at most 253 characters, DNS-1123 labels joined by ``.``.
* **DNS-1035 label** (Service names): a DNS-1123 label that starts with a letter.
* **Path segment** (HorizontalPodAutoscaler names): not ``.`` or ``..``, no ``/`` or ``%``.
* **Label keys**: an optional DNS-1123 subdomain prefix and ``/``, then a name of at most
  63 characters ``([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]``; **label values**: empty or
  a name of that form.
* **IANA service names** (container and Service port names): at most 15 characters of
  ``a-z``, ``0-9`` and ``-``, at least one letter, no ``--``, alphanumeric at both ends.

A Job's name becomes the value of its pods' ``batch.kubernetes.io/job-name`` label, so it
must also be a valid label value (at most 63 characters), as the API server checks.

Every function returns a list of messages (empty: valid), worded as the API server words
them.
"""

from __future__ import annotations

import re

__all__ = [
    "dns1035_label",
    "dns1123_label",
    "dns1123_subdomain",
    "label_key",
    "label_value",
    "object_name",
    "port_name",
]

_LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_LABEL_RE = re.compile(_LABEL)
_SUBDOMAIN = rf"{_LABEL}(\.{_LABEL})*"
_SUBDOMAIN_RE = re.compile(_SUBDOMAIN)
_DNS1035 = "[a-z]([-a-z0-9]*[a-z0-9])?"
_DNS1035_RE = re.compile(_DNS1035)
_QUALIFIED = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_QUALIFIED_RE = re.compile(_QUALIFIED)
_IANA_RE = re.compile("[-a-z0-9]+")
LABEL_MAX = 63
SUBDOMAIN_MAX = 253
IANA_MAX = 15


def _too_long(text: str, limit: int) -> list[str]:
    return [f"must be no more than {limit} characters"] if len(text) > limit else []


def dns1123_label(text: str) -> list[str]:
    """A namespace or container name."""
    problems = _too_long(text, LABEL_MAX)
    if not _LABEL_RE.fullmatch(text):
        problems.append(
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters "
            "or '-', and must start and end with an alphanumeric character (e.g. 'my-name', "
            f"or '123-abc', regex used for validation is '{_LABEL}')"
        )
    return problems


def dns1123_subdomain(text: str) -> list[str]:
    """A Deployment, PDB, Ingress or Job name; an Ingress host."""
    problems = _too_long(text, SUBDOMAIN_MAX)
    if not _SUBDOMAIN_RE.fullmatch(text):
        problems.append(
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
            "characters, '-' or '.', and must start and end with an alphanumeric character "
            f"(e.g. 'example.com', regex used for validation is '{_SUBDOMAIN}')"
        )
    return problems


def dns1035_label(text: str) -> list[str]:
    """A Service name."""
    problems = _too_long(text, LABEL_MAX)
    if not _DNS1035_RE.fullmatch(text):
        problems.append(
            "a DNS-1035 label must consist of lower case alphanumeric characters or '-', "
            "start with an alphabetic character, and end with an alphanumeric character "
            f"(e.g. 'my-name', or 'abc-123', regex used for validation is '{_DNS1035}')"
        )
    return problems


def _path_segment(text: str) -> list[str]:
    if text in (".", ".."):
        return [f"may not be '{text}'"]
    return [f"may not contain '{c}'" for c in ("/", "%") if c in text]


def object_name(kind: str, name: str) -> list[str]:
    """``metadata.name`` of an object of ``kind``, by that kind's rule."""
    if not name:
        return ["name or generateName is required"]
    if kind == "Service":
        return dns1035_label(name)
    if kind == "HorizontalPodAutoscaler":
        return _path_segment(name)
    if kind == "Namespace":
        return dns1123_label(name)
    problems = dns1123_subdomain(name)
    if kind == "Job" and len(name) > LABEL_MAX and not problems:
        problems.append(
            f"must be no more than {LABEL_MAX} characters (it becomes the pods' "
            "batch.kubernetes.io/job-name label value)"
        )
    return problems


def _qualified_name(text: str) -> list[str]:
    problems = _too_long(text, LABEL_MAX)
    if not _QUALIFIED_RE.fullmatch(text):
        problems.append(
            "name part must consist of alphanumeric characters, '-', '_' or '.', and must "
            "start and end with an alphanumeric character (e.g. 'MyName', or 'my.name', or "
            f"'123-abc', regex used for validation is '{_QUALIFIED}')"
        )
    return problems


def label_key(key: str) -> list[str]:
    """A label (or annotation) key: ``[prefix/]name``."""
    prefix, slash, name = key.rpartition("/")
    if slash and not prefix:
        return ["prefix part must be non-empty"]
    if prefix.count("/"):
        return [
            "a qualified name must consist of alphanumeric characters, '-', '_' or '.', "
            "with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    problems = [f"prefix part {p}" for p in dns1123_subdomain(prefix)] if prefix else []
    return problems + _qualified_name(name)


def label_value(value: str) -> list[str]:
    """A label value: empty, or at most 63 characters of the qualified-name form."""
    if value == "":
        return []
    problems = _too_long(value, LABEL_MAX)
    if not _QUALIFIED_RE.fullmatch(value):
        problems.append(
            "a valid label must be an empty string or consist of alphanumeric characters, "
            "'-', '_' or '.', and must start and end with an alphanumeric character (e.g. "
            f"'MyValue', or 'my_value', or '12345', regex used for validation is "
            f"'({_QUALIFIED})?')"
        )
    return problems


def port_name(name: str) -> list[str]:
    """A container or Service port name (an IANA service name)."""
    problems = _too_long(name, IANA_MAX)
    if not _IANA_RE.fullmatch(name):
        problems.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if "--" in name:
        problems.append("must not contain consecutive hyphens")
    if not re.search("[a-z]", name):
        problems.append("must contain at least one letter (a-z)")
    if name.startswith("-") or name.endswith("-"):
        problems.append("must not begin or end with a hyphen")
    return problems
