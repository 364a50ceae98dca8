"""A kubeconfig read strictly, before the ``kubernetes`` client sees it.

The client's own loader answers a hostile or broken kubeconfig with ``KeyError``,
``TypeError``, a YAML error that quotes the offending line (which may hold a token), or a
log line on stderr (a failing exec plugin) followed by an unauthenticated request. So
capsim reads the file itself and refuses, with one line naming the file and the field,
every kubeconfig it cannot use:

* the file is missing, unreadable, larger than :data:`MAX_BYTES`, not UTF-8, not YAML
  (only the line and column are shown, never the text), uses YAML aliases, or is not a
  mapping;
* ``clusters``, ``users`` or ``contexts`` are not lists of named entries, or a name is
  used twice;
* no context is chosen (neither ``--context`` nor ``current-context``), the chosen context
  does not exist, or names a cluster or user that does not exist, or a namespace that is
  not a DNS-1123 label;
* a cluster has no ``server``, or one that is not an ``http(s)://host`` URL, or one with
  ``user:password@`` in it (shown as ``***@``);
* a certificate, key or ``tokenFile`` path does not exist (relative paths are read from
  the kubeconfig's folder, as kubectl does), or inline ``*-data`` is not base64;
* a client certificate without its key (or the reverse); an ``exec`` plugin without a
  ``command`` or ``apiVersion``, or whose command is not found; an ``auth-provider``
  (removed from kubectl in 1.26: use an exec plugin);
* a bearer token (``token``, or the content of ``tokenFile``) that is empty or holds
  anything but visible ASCII once the whitespace around it is trimmed, or a ``tokenFile``
  larger than :data:`MAX_TOKEN_BYTES` or not UTF-8; a ``username`` or ``password`` that
  HTTP basic auth cannot carry (not Latin-1). The message names the field, never the value.

**Tokens are trimmed** as client-go trims them: the content of a ``tokenFile`` has the
whitespace around it removed (``strings.TrimSpace`` in client-go's file token source), so
``echo "$TOKEN" > token`` works; capsim trims an inline ``token`` the same way. The
``kubernetes`` Python client does neither (a trailing newline ends in "Invalid header
value"), so the chosen user is handed to it with the trimmed token inline
(:attr:`Kubeconfig.config`) and the file is read once, here. An inline ``token`` wins
over ``tokenFile``, as in both clients.

``KUBECONFIG`` with several files is merged as kubectl merges it: the first file to set
``current-context`` wins, and the first entry of each name in ``clusters``, ``users`` and
``contexts``. Relative paths are made absolute against the file that holds them.

Secrets (tokens, passwords, ``tokenFile`` contents, the basic-auth header's base64,
client-key data) are never part of a message; :attr:`Kubeconfig.secrets` lists them so that
any text from the client or the server can be redacted (:meth:`Kubeconfig.redact`).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from capsim.kube.names import dns1123_label

__all__ = [
    "MAX_BYTES",
    "MAX_TOKEN_BYTES",
    "Kubeconfig",
    "KubeconfigError",
    "default_paths",
    "load_kubeconfig",
    "redact_secrets",
]

#: A kubeconfig larger than this is refused unread (real ones are a few KiB).
MAX_BYTES = 4 * 1024 * 1024
#: A ``tokenFile`` larger than this is refused unread (a JWT is a few KiB).
MAX_TOKEN_BYTES = 64 * 1024
#: Secrets shorter than this are not searched for in text (they would blank out ordinary
#: words); a credential that short is no protection anyway.
MIN_SECRET_CHARS = 4
_SECTIONS = {"clusters": "cluster", "users": "user", "contexts": "context"}
_FILE_FIELDS = {
    "cluster": ("certificate-authority",),
    "user": ("client-certificate", "client-key", "tokenFile"),
}
_DATA_FIELDS = {
    "cluster": ("certificate-authority-data",),
    "user": ("client-certificate-data", "client-key-data"),
}


class KubeconfigError(ValueError):
    """A kubeconfig capsim cannot use: ``<file>: <field>: <message>``, never a secret."""


@dataclass(frozen=True)
class Kubeconfig:
    """The merged kubeconfig, checked, with relative paths made absolute."""

    files: tuple[Path, ...]
    config: dict[str, Any]
    context: str
    namespace: str
    server: str
    user: dict[str, Any]
    user_field: str
    secrets: tuple[str, ...]

    @property
    def where(self) -> str:
        """The file (or files) it came from, for messages."""
        return ", ".join(map(str, self.files))

    def redact(self, text: str) -> str:
        """``text`` with every secret of this kubeconfig replaced by ``***``."""
        return redact_secrets(text, self.secrets)


def redact_secrets(text: str, secrets: Iterable[str]) -> str:
    """``text`` with each of ``secrets`` (longest first, at least
    :data:`MIN_SECRET_CHARS` characters) replaced by ``***``."""
    for secret in sorted(set(secrets), key=len, reverse=True):
        if len(secret) >= MIN_SECRET_CHARS and secret in text:
            text = text.replace(secret, "***")
    return text


def default_paths(explicit: Path | None) -> list[Path]:
    """``--kubeconfig``, else ``KUBECONFIG`` (several files, ``:``-separated), else
    ``~/.kube/config``, as kubectl chooses."""
    if explicit is not None:
        return [explicit]
    listed = [p for p in os.environ.get("KUBECONFIG", "").split(os.pathsep) if p]
    if listed:
        return [Path(p) for p in listed]
    return [Path.home() / ".kube" / "config"]


class _NoAliases(yaml.SafeLoader):
    """Safe YAML without anchors and aliases (a kubeconfig needs none; an alias bomb
    would expand in the client)."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
            raise yaml.MarkedYAMLError(problem="alias", problem_mark=mark)
        return super().compose_node(parent, index)


def _read(path: Path) -> dict[str, Any]:
    where = f"{path}: cannot load the kubeconfig"
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise KubeconfigError(f"{where}: {size} bytes is more than {MAX_BYTES}")
        raw = path.read_bytes()
    except FileNotFoundError:
        raise KubeconfigError(f"{where}: no such file") from None
    except IsADirectoryError:
        raise KubeconfigError(f"{where}: it is a folder") from None
    except OSError as exc:
        raise KubeconfigError(f"{where}: {exc.strerror or type(exc).__name__}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise KubeconfigError(f"{where}: not UTF-8 text (byte {exc.start})") from None
    try:
        loaded = yaml.load(text, Loader=_NoAliases)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        what = "YAML aliases are not allowed" if exc.problem == "alias" else "not valid YAML"
        raise KubeconfigError(f"{where}: {what}{at}") from None
    except yaml.YAMLError:
        raise KubeconfigError(f"{where}: not valid YAML") from None
    except RecursionError:
        raise KubeconfigError(f"{where}: nested too deeply") from None
    if loaded is None:
        loaded = {}
    if not isinstance(loaded, dict):
        raise KubeconfigError(
            f"{path}: top level: expected a mapping (apiVersion: v1, kind: Config), "
            f"got {_type_name(loaded)}"
        )
    return loaded


def _type_name(value: Any) -> str:
    names = {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean"}
    return names.get(type(value), "a number" if isinstance(value, int | float) else "null")


def _entries(path: Path, config: Mapping[str, Any], section: str) -> list[dict[str, Any]]:
    """The named entries of ``clusters``/``users``/``contexts``, checked."""
    value = config.get(section)
    if value is None:
        return []
    if not isinstance(value, list):
        raise KubeconfigError(f"{path}: {section}: expected a list, got {_type_name(value)}")
    inner = _SECTIONS[section]
    seen: set[str] = set()
    out = []
    for index, entry in enumerate(value):
        field = f"{section}[{index}]"
        if not isinstance(entry, dict):
            raise KubeconfigError(f"{path}: {field}: expected a mapping, got {_type_name(entry)}")
        name = entry.get("name")
        if not isinstance(name, str) or not name:
            raise KubeconfigError(f"{path}: {field}.name: missing")
        if name in seen:
            raise KubeconfigError(f"{path}: {section}: two entries named {name!r}")
        seen.add(name)
        body = entry.get(inner)
        if body is None:
            body = {}
        if not isinstance(body, dict):
            raise KubeconfigError(
                f"{path}: {section}[name={name}].{inner}: expected a mapping, "
                f"got {_type_name(body)}"
            )
        out.append({"name": name, inner: _absolute(path, inner, dict(body))})
    return out


def _absolute(path: Path, inner: str, body: dict[str, Any]) -> dict[str, Any]:
    """File fields (and an exec command with a ``/``) made absolute against ``path``'s
    folder, as kubectl resolves them."""
    base = path.resolve().parent
    for key in _FILE_FIELDS.get(inner, ()):
        value = body.get(key)
        if isinstance(value, str) and value and not os.path.isabs(value):
            body[key] = str(base / os.path.expanduser(value))
    exec_ = body.get("exec")
    if isinstance(exec_, dict):
        command = exec_.get("command")
        if isinstance(command, str) and "/" in command and not os.path.isabs(command):
            body["exec"] = {**exec_, "command": str(base / command)}
    return body


def _merge(files: list[tuple[Path, dict[str, Any]]]) -> tuple[dict[str, Any], dict[str, Path]]:
    """kubectl's merge: first ``current-context`` wins, first entry of each name wins.
    Also: which file each entry came from (``section/name`` → path)."""
    merged: dict[str, Any] = {"apiVersion": "v1", "kind": "Config"}
    origin: dict[str, Path] = {}
    for path, config in files:
        current = config.get("current-context")
        if current is not None and not isinstance(current, str):
            raise KubeconfigError(
                f"{path}: current-context: expected a string, got {_type_name(current)}"
            )
        if current and "current-context" not in merged:
            merged["current-context"] = current
            origin["current-context"] = path
        for section in _SECTIONS:
            have = merged.setdefault(section, [])
            names = {e["name"] for e in have}
            for entry in _entries(path, config, section):
                if entry["name"] not in names:
                    have.append(entry)
                    origin[f"{section}/{entry['name']}"] = path
    return merged, origin


def _find(merged: Mapping[str, Any], section: str, name: str) -> dict[str, Any] | None:
    inner = _SECTIONS[section]
    for entry in merged.get(section, []):
        if entry["name"] == name:
            found: dict[str, Any] = entry[inner]
            return found
    return None


def _check_server(where: str, field: str, cluster: Mapping[str, Any]) -> str:
    server = cluster.get("server")
    if not isinstance(server, str) or not server.strip():
        raise KubeconfigError(f"{where}: {field}.server: missing (the API server's URL)")
    try:
        split = urlsplit(server)
        split.port  # noqa: B018 -- raises ValueError on a bad port
    except ValueError:
        raise KubeconfigError(f"{where}: {field}.server: not a URL") from None
    if split.username is not None or split.password is not None:
        shown = f"{split.scheme}://***@{split.hostname or ''}"
        raise KubeconfigError(
            f"{where}: {field}.server: credentials in the URL are not supported (put them "
            f"in the user entry), got {shown}"
        )
    if split.scheme not in ("http", "https") or not split.hostname:
        shown = server if len(server) <= 100 else server[:97] + "..."
        raise KubeconfigError(
            f"{where}: {field}.server: expected an https:// (or http://) URL with a host, "
            f"got {shown!r}"
        )
    return server.rstrip("/")


def _check_files(where: str, field: str, inner: str, body: Mapping[str, Any]) -> None:
    for key in _FILE_FIELDS[inner]:
        value = body.get(key)
        if value is None:
            continue
        if not isinstance(value, str) or not value:
            raise KubeconfigError(f"{where}: {field}.{key}: expected a file path")
        if not os.path.isfile(value):
            raise KubeconfigError(f"{where}: {field}.{key}: file not found, got {value}")
        if not os.access(value, os.R_OK):
            raise KubeconfigError(f"{where}: {field}.{key}: cannot read it, got {value}")
    for key in _DATA_FIELDS[inner]:
        value = body.get(key)
        if value is None:
            continue
        try:
            if not isinstance(value, str):
                raise binascii.Error
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise KubeconfigError(
                f"{where}: {field}.{key}: not base64 (inline data is base64-encoded PEM)"
            ) from None


def _secrets(user: Mapping[str, Any], token: str | None) -> list[str]:
    """Every secret of ``user`` as it may show in text: the token (as given and trimmed),
    the password, the basic-auth header's base64 of ``username:password``, client-key
    data (and each long line of the PEM inside it)."""
    found: list[str] = [token] if token else []
    for key in ("token", "password", "client-key-data"):
        value = user.get(key)
        if isinstance(value, str) and value:
            found.append(value)
            found.append(value.strip())
    username, password = user.get("username"), user.get("password")
    if isinstance(username, str) and isinstance(password, str) and password:
        with contextlib.suppress(UnicodeEncodeError):
            pair = f"{username}:{password}".encode("latin-1")
            found.append(base64.b64encode(pair).decode("ascii"))
    key_data = user.get("client-key-data")
    if isinstance(key_data, str):
        try:
            decoded = base64.b64decode(key_data).decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            decoded = ""
        found.extend(line for line in decoded.splitlines() if len(line) >= 16)
    return [secret for secret in found if secret]


def _visible_ascii(text: str) -> bool:
    """Only the characters of a header value a bearer token may hold: ``!`` to ``~``."""
    return all("!" <= char <= "~" for char in text)


def _bearer_token(where: str, field: str, user: Mapping[str, Any]) -> str | None:
    """The user's bearer token, trimmed (``token``, else the content of ``tokenFile``), or
    ``None`` when it has none. Raises :class:`KubeconfigError` naming the field (never the
    value) for a token that is blank, or holds control characters, spaces or non-ASCII
    inside, or a ``tokenFile`` that is too large or not UTF-8."""
    inline = user.get("token")
    if isinstance(inline, str) and inline:
        token, key = inline.strip(), "token"
    else:
        path = user.get("tokenFile")
        if not isinstance(path, str) or not path:
            return None
        key = "tokenFile"
        try:
            with open(path, "rb") as handle:
                raw = handle.read(MAX_TOKEN_BYTES + 1)
        except OSError as exc:
            reason = (exc.strerror or type(exc).__name__).lower()
            raise KubeconfigError(f"{where}: {field}.tokenFile: {reason}, got {path}") from None
        if len(raw) > MAX_TOKEN_BYTES:
            raise KubeconfigError(
                f"{where}: {field}.tokenFile: larger than {MAX_TOKEN_BYTES} bytes (not a "
                f"token), got {path}"
            )
        try:
            token = raw.decode("utf-8").strip()
        except UnicodeDecodeError:
            raise KubeconfigError(
                f"{where}: {field}.tokenFile: not UTF-8 text (not a token), got {path}"
            ) from None
        if not token:
            raise KubeconfigError(f"{where}: {field}.tokenFile: the file is empty, got {path}")
    if not token:
        raise KubeconfigError(f"{where}: {field}.token: blank (only whitespace)")
    if not _visible_ascii(token):
        shown = f", got {user['tokenFile']}" if key == "tokenFile" else ""
        raise KubeconfigError(
            f"{where}: {field}.{key}: the token holds a character a bearer token cannot "
            f"(a space, a control character or non-ASCII) after trimming the whitespace "
            f"around it; the value is not shown{shown}"
        )
    return token


def _check_basic_auth(where: str, field: str, user: Mapping[str, Any]) -> None:
    """HTTP basic auth carries ``username:password`` as Latin-1 (the client encodes it so)."""
    for key in ("username", "password"):
        value = user.get(key)
        if isinstance(value, str):
            try:
                value.encode("latin-1")
            except UnicodeEncodeError:
                raise KubeconfigError(
                    f"{where}: {field}.{key}: holds a character HTTP basic auth cannot carry "
                    "(only Latin-1); the value is not shown"
                ) from None


def _check_user(where: str, field: str, user: Mapping[str, Any]) -> None:
    for key in ("token", "username", "password"):
        value = user.get(key)
        if value is not None and not isinstance(value, str):
            raise KubeconfigError(f"{where}: {field}.{key}: expected a string")
    if ("username" in user) != ("password" in user):
        missing = "password" if "username" in user else "username"
        raise KubeconfigError(f"{where}: {field}.{missing}: missing (basic auth needs both)")
    _check_basic_auth(where, field, user)
    has_cert = "client-certificate" in user or "client-certificate-data" in user
    has_key = "client-key" in user or "client-key-data" in user
    if has_cert != has_key:
        missing = "client-key" if has_cert else "client-certificate"
        raise KubeconfigError(
            f"{where}: {field}.{missing}: missing (a client certificate needs its key)"
        )
    _check_files(where, field, "user", user)
    provider = user.get("auth-provider")
    if provider is not None:
        name = provider.get("name") if isinstance(provider, dict) else None
        raise KubeconfigError(
            f"{where}: {field}.auth-provider: auth-provider plugins were removed from kubectl "
            f"in 1.26; use an exec credential plugin instead (for gcp: "
            f"gke-gcloud-auth-plugin, for oidc: kubelogin), got {name!r}"
        )
    exec_ = user.get("exec")
    if exec_ is not None:
        if not isinstance(exec_, dict):
            raise KubeconfigError(f"{where}: {field}.exec: expected a mapping")
        command = exec_.get("command")
        if not isinstance(command, str) or not command:
            raise KubeconfigError(f"{where}: {field}.exec.command: missing")
        if not isinstance(exec_.get("apiVersion"), str):
            raise KubeconfigError(
                f"{where}: {field}.exec.apiVersion: missing (client.authentication.k8s.io/v1)"
            )
        args = exec_.get("args")
        if args is not None and not (
            isinstance(args, list) and all(isinstance(a, str) for a in args)
        ):
            raise KubeconfigError(f"{where}: {field}.exec.args: expected a list of strings")
        env = exec_.get("env")
        if env is not None and not (
            isinstance(env, list)
            and all(
                isinstance(e, dict) and isinstance(e.get("name"), str) and "value" in e for e in env
            )
        ):
            raise KubeconfigError(
                f"{where}: {field}.exec.env: expected a list of {{name, value}} entries"
            )
        if shutil.which(command) is None:
            raise KubeconfigError(
                f"{where}: {field}.exec.command: the credential plugin is not found "
                f"(not on PATH, or not executable), got {command!r}"
            )


def load_kubeconfig(explicit: Path | None, context: str | None) -> Kubeconfig:
    """Read, merge and check the kubeconfig(s) for ``context`` (default: the current one).

    Raises :class:`KubeconfigError` (one line, no secret) for anything capsim cannot use.
    """
    paths = default_paths(explicit)
    existing = [p for p in paths if explicit is not None or p.exists()]
    if not existing:
        shown = ", ".join(map(str, paths))
        raise KubeconfigError(
            f"{shown}: cannot load the kubeconfig: no such file (give --kubeconfig)"
        )
    files = [(path, _read(path)) for path in existing]
    merged, origin = _merge(files)
    first = existing[0]
    names = [e["name"] for e in merged["contexts"]]
    chosen = context or merged.get("current-context")
    if not chosen:
        raise KubeconfigError(
            f"{first}: current-context: not set; give --context (contexts: {names})"
        )
    ctx = _find(merged, "contexts", chosen)
    if ctx is None:
        field = "--context" if context else "current-context"
        named_in: Path = first if context else origin["current-context"]
        raise KubeconfigError(
            f"{named_in}: {field}: no context named {chosen!r} in contexts (have: {names})"
        )
    where = str(origin[f"contexts/{chosen}"])
    field = f"contexts[name={chosen}].context"
    cluster_name = ctx.get("cluster")
    if not isinstance(cluster_name, str) or not cluster_name:
        raise KubeconfigError(f"{where}: {field}.cluster: missing")
    cluster = _find(merged, "clusters", cluster_name)
    if cluster is None:
        have = [e["name"] for e in merged["clusters"]]
        raise KubeconfigError(
            f"{where}: {field}.cluster: no cluster named {cluster_name!r} in clusters "
            f"(have: {have})"
        )
    user_name = ctx.get("user")
    user: dict[str, Any] = {}
    user_field = ""
    if user_name is not None:
        if not isinstance(user_name, str):
            raise KubeconfigError(f"{where}: {field}.user: expected a string")
        found = _find(merged, "users", user_name)
        if found is None:
            have = [e["name"] for e in merged["users"]]
            raise KubeconfigError(
                f"{where}: {field}.user: no user named {user_name!r} in users (have: {have})"
            )
        user, user_field = found, f"users[name={user_name}].user"
    namespace = ctx.get("namespace") or "default"
    if not isinstance(namespace, str) or dns1123_label(namespace):
        raise KubeconfigError(
            f"{where}: {field}.namespace: not a valid namespace name (a DNS-1123 label), "
            f"got {namespace!r}"
        )
    cluster_where = str(origin[f"clusters/{cluster_name}"])
    cluster_field = f"clusters[name={cluster_name}].cluster"
    server = _check_server(cluster_where, cluster_field, cluster)
    _check_files(cluster_where, cluster_field, "cluster", cluster)
    skip = cluster.get("insecure-skip-tls-verify")
    if skip is not None and not isinstance(skip, bool):
        raise KubeconfigError(
            f"{cluster_where}: {cluster_field}.insecure-skip-tls-verify: expected true or false"
        )
    token: str | None = None
    if user_name is not None:
        user_where = str(origin[f"users/{user_name}"])
        _check_user(user_where, user_field, user)
        token = _bearer_token(user_where, user_field, user)
        if token is not None:
            user = _with_inline_token(user, token)
            merged = _replace_user(merged, user_name, user)
    return Kubeconfig(
        files=tuple(existing),
        config=merged,
        context=chosen,
        namespace=namespace,
        server=server,
        user=user,
        user_field=user_field,
        secrets=tuple(_secrets(user, token)),
    )


def _with_inline_token(user: Mapping[str, Any], token: str) -> dict[str, Any]:
    """``user`` with ``token`` inline and no ``tokenFile`` (the client reads neither again)."""
    fixed = {k: v for k, v in user.items() if k != "tokenFile"}
    fixed["token"] = token
    return fixed


def _replace_user(merged: dict[str, Any], name: str, user: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``merged`` whose user ``name`` is ``user``."""
    users = [{"name": e["name"], "user": user} if e["name"] == name else e for e in merged["users"]]
    return {**merged, "users": users}
