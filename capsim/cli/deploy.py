"""``capsim deploy emit`` and ``capsim deploy apply``: the command-line side of the deploy
adapter (:mod:`capsim.kube.emit`, :mod:`capsim.kube.checks`,
:mod:`capsim.kube.write`, :mod:`capsim.kube.apply`).

Exit codes as every command: 0 success (or a clean dry run); 1 the dry run found
problems in the manifests, or an apply stopped on one; 2 bad input, the network or the
environment; 3 a bug in capsim.

``deploy apply`` draws the line between 1 and 2 on what the API server's answer is about
(:func:`capsim.kube.apply.is_manifest_problem`):

* **1, the manifests**: the server's own ``Status`` with 409 Conflict (another field
  manager owns a field; ``--force-conflicts``), 422 Invalid or 400 BadRequest (the
  server's causes are listed), or 403 when admission refused the object itself (a webhook
  or ValidatingAdmissionPolicy denied it, a ResourceQuota or LimitRange it exceeds);
  ``--prune-check`` leftovers. Every object's outcome is listed on stdout.
* **2, the input**: manifests that do not load (one line naming the file); a namespace,
  name or label that is not a valid Kubernetes name; an object whose namespace does not
  exist or that would change an immutable field (listed, then one line).
* **2, the network or the environment** (one line on stderr naming the server URL and the
  status; the dry run stops there): an unusable kubeconfig; no answer within ``--timeout``
  (default 30 s, one deadline for all of the command's API requests); 401 (credentials
  refused); any other 403 (RBAC: the user may not get/list/patch that resource); a 404 that
  is not a missing namespace (the kind is not served); 429; every 5xx; an answer that is not
  the API server's (not JSON, an HTML error page, a redirect, another object than asked).
  During ``--apply`` the objects applied before it are listed on stdout first.

deploy emit's numeric flags are checked at the command line: ``--port`` is 1 to 65535 and
``--k8s-version`` is ``MAJOR.MINOR`` (one line naming the flag and the value).

``deploy emit -o yaml`` prints the checked manifests instead of writing a folder, as
``kubectl create --dry-run=client -o yaml`` does: one multi-document YAML stream on
stdout and nothing else (notes on stderr), for ``capsim deploy emit … -o yaml | kubectl
apply -f -``; ``-o json`` prints a ``v1`` List. ``-o`` excludes ``--out`` (a folder) and
``--kustomize``; problems found by the checks are reported as without it (exit 2, nothing
printed on stdout).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

from capsim.cli.common import EXIT_BAD_INPUT, EXIT_OK, duration_arg, require_extra
from capsim.cli.output import add_output_argument
from capsim.kube.client import DEFAULT_TIMEOUT_S

__all__ = ["add_deploy_parser"]

EXIT_PROBLEMS = 1
MAX_PORT = 65535
_WHOLE = re.compile(r"[+-]?[0-9]+")
_VERSION = re.compile(r"v?[0-9]+\.[0-9]+(\.[0-9]+)?")

APPLY_EXIT_CODES = (
    "exit codes: 0 a clean dry run (or everything applied); 1 the dry run found problems in "
    "the manifests: conflicts with other field managers (409), invalid objects (422/400), "
    "objects admission denies (a webhook, policy, quota or LimitRange: 403); 2 bad input (a "
    "manifest folder or kubeconfig capsim cannot use, a namespace that does not exist, an "
    "immutable field changed) or the network/environment, one line naming the server URL and "
    "the status: no answer within --timeout, credentials refused (401), RBAC forbids (other "
    "403s), a kind not served (404), a failing server (5xx), an answer that is not the API "
    "server's (HTML, not JSON, a redirect)."
)


def _port_arg(text: str) -> int:
    """An argparse type: a TCP port, a whole number from 1 to 65535."""
    if not _WHOLE.fullmatch(text.strip()):
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}")
    value = int(text)
    if not 1 <= value <= MAX_PORT:
        raise argparse.ArgumentTypeError(
            f"must be a port number from 1 to {MAX_PORT}, got {text!r}"
        )
    return value


def _k8s_version_arg(text: str) -> str:
    """An argparse type: a Kubernetes version, ``MAJOR.MINOR`` (``1.31``, ``v1.31.2``)."""
    if not _VERSION.fullmatch(text.strip()):
        raise argparse.ArgumentTypeError(f"expected MAJOR.MINOR such as 1.31, got {text!r}")
    return text.strip()


def add_deploy_parser(commands: Any) -> None:
    """The ``deploy`` command group."""
    deploy = commands.add_parser(
        "deploy", help="emit the simulated configuration as manifests, apply them safely"
    )
    sub = deploy.add_subparsers(dest="deploy_command", required=True, metavar="COMMAND")
    emit = sub.add_parser(
        "emit",
        help="write validated manifests (Deployment, Service, HPA, PDB, Ingress, Job)",
        description="Build Kubernetes manifests from a scenario's platform or from a "
        "`capsim recommend --emit` folder, validate them strictly against the chosen "
        "Kubernetes version's schemas and capsim's own checks, and write one file per "
        "object. Nothing is written if any check fails (exit 2, every problem listed). "
        "With -o yaml (or -o json) the manifests go to stdout instead, one multi-document "
        "YAML stream (a v1 List), and no file is written: capsim deploy emit ... -o yaml | "
        "kubectl apply -f -; notes go to stderr.",
    )
    source = emit.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "scenario",
        nargs="?",
        type=Path,
        metavar="SCENARIO",
        help="a scenario file, or a bundled scenario's name",
    )
    source.add_argument("--recommendation", type=Path, metavar="DIR", help="recommend --emit DIR")
    emit.add_argument("--platform", help="the scenario's Kubernetes platform to emit")
    emit.add_argument("--workload", help="only this workload (default: every service)")
    emit.add_argument("-n", "--namespace", help="metadata.namespace of every object")
    emit.add_argument("--image", help="container image (scenarios name none)")
    emit.add_argument(
        "--port", type=_port_arg, default=8080, help="container port, 1-65535 (default 8080)"
    )
    emit.add_argument(
        "--k8s-version", type=_k8s_version_arg, default=None, metavar="1.31", help="target version"
    )
    emit.add_argument("--ingress-host", metavar="HOST", help="also emit an Ingress for HOST")
    written = emit.add_mutually_exclusive_group()
    written.add_argument(
        "--out", type=Path, metavar="DIR", help="folder to write (default deploy/<name>)"
    )
    written.add_argument(
        "-o",
        "--output",
        choices=("yaml", "json"),
        metavar="FORMAT",
        help="write the manifests to stdout instead of a folder: yaml (one multi-document "
        "stream, for kubectl apply -f -) or json (a v1 List); nothing else on stdout",
    )
    emit.add_argument("--kustomize", action="store_true", help="also write kustomization.yaml")
    emit.add_argument("--debug", action="store_true", help="show tracebacks")
    apply = sub.add_parser(
        "apply",
        help="server-side apply a manifest folder: dry run and diff, --apply to change",
        description="Server-side apply (field manager capsim) every manifest in DIR with "
        "dryRun=All and show what would change against the live objects. Only with --apply "
        "are objects changed, in dependency order, stopping at the first failure.",
        epilog=APPLY_EXIT_CODES,
    )
    apply.add_argument(
        "folder", type=Path, metavar="DIR", help="a folder of manifests (capsim deploy emit)"
    )
    apply.add_argument(
        "--kubeconfig",
        type=Path,
        metavar="FILE",
        help="kubeconfig file (default $KUBECONFIG, then ~/.kube/config)",
    )
    apply.add_argument("--context", help="kubeconfig context (default: the current one)")
    apply.add_argument("-n", "--namespace", help="namespace for objects that name none")
    apply.add_argument("--apply", action="store_true", help="apply for real after the dry run")
    apply.add_argument(
        "--force-conflicts", action="store_true", help="take ownership of conflicting fields"
    )
    apply.add_argument(
        "--prune-check",
        action="store_true",
        help="report capsim-managed objects of the same instance that DIR no longer has",
    )
    apply.add_argument(
        "--timeout",
        type=duration_arg,
        default=DEFAULT_TIMEOUT_S,
        metavar="DURATION",
        help="one deadline for all of the command's API-server requests (default 30s)",
    )
    add_output_argument(apply, json_alias=False)
    apply.add_argument("--debug", action="store_true", help="show tracebacks")
    emit.set_defaults(handler=_emit)
    apply.set_defaults(handler=_apply)


def _emit(args: argparse.Namespace) -> int:
    require_extra("kubernetes_validate", "capsim deploy emit")
    from capsim.kube.checks import check_manifests
    from capsim.kube.emit import (
        DEFAULT_K8S_VERSION,
        EmitOptions,
        manifests_from_recommendation,
        manifests_from_scenario,
    )
    from capsim.kube.write import write_manifests

    if args.output is not None and args.kustomize:
        raise ValueError("--kustomize writes kustomization.yaml into a folder: not with -o")
    version = args.k8s_version or DEFAULT_K8S_VERSION
    options = EmitOptions(
        namespace=args.namespace,
        image=args.image,
        k8s_version=version,
        ingress_host=args.ingress_host,
        container_port=args.port,
    )
    if args.recommendation is not None:
        for flag in ("platform", "workload"):
            if getattr(args, flag):
                raise ValueError(f"--{flag} is for scenarios, not with --recommendation")
        manifests = manifests_from_recommendation(args.recommendation, options)
        default_out = Path("deploy") / args.recommendation.name
    else:
        import capsim

        scenario = capsim.load_scenario(args.scenario)
        platform = args.platform or _only_kubernetes_platform(scenario, args.scenario)
        manifests = manifests_from_scenario(
            scenario, platform, options, args.workload, where=str(args.scenario)
        )
        default_out = Path("deploy") / f"{scenario.name}-{platform}"
    problems = check_manifests(manifests.objects, version)
    if args.output is not None and not problems:
        return _emit_stdout(manifests, version, args.output)
    if problems:
        print(
            f"capsim: error: {len(problems)} problem(s) in the manifests from "
            f"{manifests.source}; nothing written:",
            file=sys.stderr,
        )
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return EXIT_BAD_INPUT
    out = args.out or default_out
    header = f"capsim deploy emit: {manifests.source}\nvalidated against Kubernetes {version}"
    paths = write_manifests(manifests.objects, out, header, args.kustomize)
    print(
        f"wrote {len(paths)} manifests to {out} "
        f"(valid for Kubernetes {version}, strict schemas and capsim's checks):"
    )
    for path in paths:
        print(f"  {path.name}")
    for note in manifests.notes:
        print(f"note: {note}")
    how = f"kubectl apply -k {out}" if args.kustomize else f"capsim deploy apply {out}"
    print(f"\nnext: {how}")
    return EXIT_OK


def _emit_stdout(manifests: Any, version: str, output: str) -> int:
    """``-o yaml|json``: the checked manifests on stdout and nothing else (notes on
    stderr), in the order they are applied; no file is written."""
    import json

    from capsim.kube.write import render

    header = f"capsim deploy emit: {manifests.source}\nvalidated against Kubernetes {version}"
    if output == "yaml":
        documents = [render(obj, header) for obj in manifests.objects]
        sys.stdout.write("---\n".join(documents))
    else:
        listing = {"apiVersion": "v1", "kind": "List", "items": list(manifests.objects)}
        sys.stdout.write(json.dumps(listing, indent=2) + "\n")
    sys.stdout.flush()
    for note in manifests.notes:
        print(f"note: {note}", file=sys.stderr)
    return EXIT_OK


def _only_kubernetes_platform(scenario: Any, path: Path) -> str:
    from capsim.scenario import KubernetesPlatform

    names = [n for n, p in scenario.platforms.items() if isinstance(p, KubernetesPlatform)]
    if len(names) == 1:
        return str(names[0])
    raise ValueError(f"{path}: give --platform (Kubernetes platforms: {names or 'none'})")


def _apply(args: argparse.Namespace) -> int:
    require_extra("kubernetes", "capsim deploy apply")
    from capsim.kube.apply import ClusterRefusedError, apply_manifests
    from capsim.kube.client import ApiError, ClusterUnreachableError, KubernetesCluster
    from capsim.kube.names import dns1123_label
    from capsim.kube.write import load_manifest_dir

    if args.namespace is not None and (problems := dns1123_label(args.namespace)):
        raise ValueError(f"--namespace: {problems[-1]}, got {args.namespace!r}")
    objects = load_manifest_dir(args.folder)
    server = "the cluster"
    try:
        with KubernetesCluster(args.kubeconfig, args.context, timeout_s=args.timeout) as cluster:
            server = cluster.server
            plan = apply_manifests(
                cluster,
                objects,
                namespace=args.namespace,
                default_namespace=cluster.namespace,
                apply=args.apply,
                force_conflicts=args.force_conflicts,
                prune_check=args.prune_check,
            )
    except ClusterUnreachableError as exc:
        print(f"capsim: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except ClusterRefusedError as exc:
        print(f"capsim: error: {exc.message(server)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except ApiError as exc:  # an answer apply_manifests does not sort (none known)
        print(f"capsim: error: {server}: the API server answered {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    lines, errors, code = _apply_report(plan, server, args.apply)
    if args.output == "table":
        print("\n".join(lines))
    else:
        from capsim.cli.output import print_document

        print_document(_apply_data(plan, server, args.apply, code), args.output)
    for error in errors:
        print(f"capsim: error: {error}", file=sys.stderr)
    return code


def _apply_report(plan: Any, server: str, applying: bool) -> tuple[list[str], list[str], int]:
    """The dry run's (and the apply's) report for people, the error lines for stderr and
    the exit code."""
    lines = [f"dry run (server-side apply, field manager capsim) against {server}:"]
    for outcome in plan.outcomes:
        lines.append(f"  {outcome.label}: {outcome.status}")
        lines.extend(f"      {change}" for change in outcome.changes)
        lines.extend(f"      {problem}" for problem in outcome.problems)
        lines.extend(f"      warning: {warning}" for warning in outcome.warnings)
    lines.extend(f"  left behind: {leftover}" for leftover in plan.leftovers)
    if plan.input_error is not None:
        return [*lines, "", "nothing applied"], [plan.input_error], EXIT_BAD_INPUT
    if plan.problems:
        verb = "nothing applied" if applying else "fix them before --apply"
        return [*lines, "", f"the dry run found problems: {verb}"], [], EXIT_PROBLEMS
    if not applying:
        changed = sum(o.status in ("created", "changed") for o in plan.outcomes)
        lines += [
            "",
            f"dry run clean: {changed} object(s) would change; nothing was changed.",
            "run again with --apply to apply",
        ]
        return lines, [], EXIT_OK
    if plan.applied:
        lines += ["", f"applied: {', '.join(plan.applied)}"]
    if plan.failure is not None:
        lines += [f"failed: {plan.failure}", f"not applied: {', '.join(plan.not_applied)}"]
        if plan.unreachable is not None:
            return lines, [str(plan.unreachable)], EXIT_BAD_INPUT
        if plan.refused is not None:
            return lines, [plan.refused.message(server)], EXIT_BAD_INPUT
        return lines, [], EXIT_PROBLEMS
    return lines, [], EXIT_OK


def _apply_data(plan: Any, server: str, applying: bool, code: int) -> dict[str, Any]:
    """The same report as data (``-o json|yaml``)."""
    return {
        "server": server,
        "dryRunOnly": not applying,
        "objects": [
            {
                "kind": o.kind,
                "namespace": o.namespace,
                "name": o.name,
                "source": o.where,
                "status": o.status,
                "changes": [str(c) for c in o.changes],
                "problems": list(o.problems),
                "warnings": list(o.warnings),
            }
            for o in plan.outcomes
        ],
        "leftBehind": list(plan.leftovers),
        "applied": list(plan.applied),
        "notApplied": list(plan.not_applied),
        "failure": plan.failure,
        "exitCode": code,
    }
