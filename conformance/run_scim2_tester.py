"""Run the scim2-tester compliance checks against a SCIM 2.0 server and report them.

The checks come from the scim2-tester package (``check_server``). This driver adds
what its own ``scim test`` command lacks: results grouped by resource type with
counts, a choice of which groups must pass, and one exit status for CI.

Groups are ``discovery`` (ServiceProviderConfig, ResourceTypes, Schemas and the
unknown-URL 404 check) plus one group per resource type that /ResourceTypes lists,
named after that resource type (``User``, ``Group``).

Exit status: 0 when every check in the required groups passed or was skipped,
1 when one failed or a required group ran no check, 2 when the server could not be
reached or an argument is invalid.
"""

import argparse
from pathlib import Path
import json
import os
import random
import sys
import time
from collections import Counter
from typing import Any

import httpx2
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import CheckResult
from scim2_tester import Status
from scim2_tester import check_server
from scim2_tester import get_all_available_tags

DISCOVERY_GROUP = "discovery"

# scim2-tester documents ERROR as a violated MUST and CRITICAL as a security or
# protocol failure. DEVIATION (a violated SHOULD) is reported but does not fail.
FAILED_STATUSES = {Status.ERROR, Status.CRITICAL}
WARNING_STATUSES = {Status.DEVIATION}
PASSED_STATUSES = {Status.SUCCESS, Status.COMPLIANT, Status.ACCEPTABLE}

STATUS_LABELS = {
    Status.SUCCESS: "PASS",
    Status.COMPLIANT: "PASS",
    Status.ACCEPTABLE: "PASS",
    Status.DEVIATION: "WARN",
    Status.ERROR: "FAIL",
    Status.CRITICAL: "FAIL",
    Status.SKIPPED: "SKIP",
}

MAX_DATA_CHARS = 1500


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Run every scim2-tester check against a SCIM 2.0 server, print "
        "each result grouped by resource type, and fail when a required group fails.",
    )
    parser.add_argument(
        "--url",
        default=os.environ.get("SCIM_URL"),
        help="SCIM base URL, for example http://127.0.0.1:8080/scim/v2 "
        "(default: $SCIM_URL).",
    )
    parser.add_argument(
        "--token",
        default=os.environ.get("SCIM_TOKEN"),
        help="Bearer token sent in the Authorization header (default: $SCIM_TOKEN). "
        "Prefer the environment variable, because other users can read command lines.",
    )
    parser.add_argument(
        "--require",
        action="append",
        default=None,
        metavar="GROUPS",
        help="Comma-separated groups whose failures fail the run: 'discovery', a "
        "resource type name or id ('User'), its endpoint ('Users'), or 'all'. "
        "May be repeated. Default: $SCIM_REQUIRE, else 'all'.",
    )
    parser.add_argument(
        "--include-tag",
        action="append",
        default=[],
        metavar="TAG",
        help="Run only checks with one of these scim2-tester tags, for example "
        "'crud:create' or 'patch'. May be repeated.",
    )
    parser.add_argument(
        "--exclude-tag",
        action="append",
        default=[],
        metavar="TAG",
        help="Skip checks with one of these scim2-tester tags. May be repeated.",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        help="Timeout in seconds for each HTTP request (default: 30).",
    )
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="Print the debugging data of every check, not only of failed ones.",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=int(os.environ.get("SCIM_TESTER_SEED", "1")),
        help=(
            "Seed for the random values scim2-tester generates (default: SCIM_TESTER_SEED or 1). "
            "The values include platform roles, and Hub's owner rules reject some random "
            "sequences (a third Owner, demoting the last Owner), so CI fixes the seed."
        ),
    )
    parser.add_argument(
        "--list-tags",
        action="store_true",
        help="Print the tags that scim2-tester defines and exit.",
    )
    args = parser.parse_args(argv)

    if args.list_tags:
        return args
    if not args.url:
        parser.error("missing SCIM base URL: pass --url or set SCIM_URL")
    if not args.token:
        parser.error("missing bearer token: pass --token or set SCIM_TOKEN")
    if args.timeout <= 0:
        parser.error(f"invalid --timeout {args.timeout}: it must be positive")

    raw_require = args.require or [os.environ.get("SCIM_REQUIRE") or "all"]
    args.require = [
        name.strip() for item in raw_require for name in item.split(",") if name.strip()
    ]
    if not args.require:
        parser.error("invalid --require: name at least one group, or 'all'")
    return args


def probe_server(http: httpx2.Client, url: str) -> str | None:
    """Send GET /ServiceProviderConfig and return an error message if it fails to connect or the token is rejected."""
    try:
        response = http.get("ServiceProviderConfig")
    except httpx2.HTTPError as exc:
        return f"cannot reach {url}: {exc!r}. Check that the server is running and the URL."
    if response.status_code in (401, 403):
        return (
            f"GET {url}/ServiceProviderConfig returned {response.status_code}: "
            "the bearer token was rejected. Check --token or SCIM_TOKEN."
        )
    return None


def group_of(result: CheckResult) -> str:
    return result.resource_type or DISCOVERY_GROUP


def resolve_required_groups(
    names: list[str], group_aliases: dict[str, str], groups_seen: list[str]
) -> tuple[set[str], list[str]]:
    """Map each --require name to a group and return the groups and the unknown names.

    A name matches a group case-insensitively by the resource type name or id, or by
    its endpoint without the leading slash ("Users" for "/Users").
    """
    required: set[str] = set()
    unknown: list[str] = []
    for name in names:
        key = name.lower()
        if key == "all":
            required.update(groups_seen)
        elif key in group_aliases:
            required.add(group_aliases[key])
        else:
            unknown.append(name)
    return required, unknown


def build_group_aliases(client: SyncSCIMClient) -> tuple[dict[str, str], dict[str, str]]:
    """Return the lowercase alias-to-group map and the endpoint of each resource type group."""
    aliases = {DISCOVERY_GROUP: DISCOVERY_GROUP}
    endpoints: dict[str, str] = {}
    for resource_type in client.provider.resource_types:
        group = resource_type.name
        if not group:
            continue
        endpoints[group] = resource_type.endpoint or ""
        aliases[group.lower()] = group
        if resource_type.id:
            aliases[resource_type.id.lower()] = group
        if resource_type.endpoint:
            aliases[resource_type.endpoint.strip("/").lower()] = group
    return aliases, endpoints


def format_data(data: Any) -> str:
    """Render the debugging data of a result as one bounded string."""
    if hasattr(data, "model_dump"):
        text = json.dumps(data.model_dump(mode="json", exclude_none=True))
    elif hasattr(data, "status_code") and hasattr(data, "text"):
        text = f"HTTP {data.status_code} {data.text}"
    elif isinstance(data, (dict, list)):
        text = json.dumps(data, default=repr)
    else:
        text = repr(data)
    if len(text) > MAX_DATA_CHARS:
        text = text[:MAX_DATA_CHARS] + f"... ({len(text) - MAX_DATA_CHARS} more characters)"
    return text


KNOWN_DEVIATIONS_FILE = Path(__file__).with_name("known-deviations.json")


def load_known_deviations() -> dict[tuple[str, str], str]:
    """Read the failures that are known and explained, keyed by check name and attribute URN."""
    if not KNOWN_DEVIATIONS_FILE.exists():
        return {}
    entries = json.loads(KNOWN_DEVIATIONS_FILE.read_text())
    return {(entry["check"], entry["urn"]): entry["reason"] for entry in entries}


KNOWN_DEVIATIONS = load_known_deviations()


def known_deviation(result: CheckResult) -> str | None:
    """Return the documented reason when a failed check is a known deviation."""
    if result.status not in FAILED_STATUSES or not isinstance(result.data, dict):
        return None
    return KNOWN_DEVIATIONS.get((result.title, str(result.data.get("urn"))))


def print_result(result: CheckResult, verbose: bool) -> None:
    label = STATUS_LABELS.get(result.status, result.status.name)
    deviation = known_deviation(result)
    if deviation is not None:
        print(f"  KNOWN {result.title}  {result.data.get('urn')}: {deviation}")
        return
    reason_lines = (result.reason or "").splitlines() or [""]
    print(f"  {label}  {result.title}  {reason_lines[0]}".rstrip())

    show_details = verbose or result.status in FAILED_STATUSES | WARNING_STATUSES
    if not show_details:
        return
    for line in reason_lines[1:]:
        print(f"        {line}")
    if result.data is not None:
        print(f"        data: {format_data(result.data)}")


def count_statuses(results: list[CheckResult]) -> Counter:
    counts: Counter = Counter()
    for result in results:
        if result.status in PASSED_STATUSES:
            counts["passed"] += 1
        elif known_deviation(result) is not None:
            counts["known"] += 1
        elif result.status in FAILED_STATUSES:
            counts["failed"] += 1
        elif result.status in WARNING_STATUSES:
            counts["warnings"] += 1
        else:
            counts["skipped"] += 1
    return counts


def report(
    results: list[CheckResult],
    required_names: list[str],
    group_aliases: dict[str, str],
    endpoints: dict[str, str],
    verbose: bool,
) -> int:
    """Print the results by group, a count table and a summary line, and return the exit status."""
    by_group: dict[str, list[CheckResult]] = {}
    for result in results:
        by_group.setdefault(group_of(result), []).append(result)

    # Discovery first, then the resource types in the order /ResourceTypes lists them.
    groups_seen = [DISCOVERY_GROUP] + [g for g in endpoints if g != DISCOVERY_GROUP]
    groups_seen += [g for g in by_group if g not in groups_seen]

    required, unknown = resolve_required_groups(required_names, group_aliases, groups_seen)

    for group in groups_seen:
        group_results = by_group.get(group, [])
        endpoint = f" ({endpoints[group]})" if endpoints.get(group) else ""
        print(f"\n== {group}{endpoint}: {len(group_results)} checks")
        for result in group_results:
            print_result(result, verbose)

    print("\nGroup                 passed  failed  warnings  skipped  required")
    totals: Counter = Counter()
    problems: list[str] = []
    for group in groups_seen:
        counts = count_statuses(by_group.get(group, []))
        totals.update(counts)
        is_required = group in required
        print(
            f"{group:<20} {counts['passed']:>7} {counts['failed']:>7} "
            f"{counts['warnings']:>9} {counts['skipped']:>8}  {'yes' if is_required else 'no'}"
        )
        if not is_required:
            continue
        if counts["failed"]:
            problems.append(f"{counts['failed']} failed checks in required group '{group}'")
        elif not by_group.get(group):
            problems.append(
                f"required group '{group}' ran no check, because discovery failed "
                "before the resource checks (see the discovery group)"
            )

    discovery_failed = count_statuses(by_group.get(DISCOVERY_GROUP, []))["failed"] > 0
    for name in unknown:
        if discovery_failed:
            cause = "discovery failed before the resource checks (see the discovery group)"
        else:
            listed = ", ".join(endpoints) or "none"
            cause = f"/ResourceTypes does not list it (resource types listed: {listed})"
        problems.append(f"required group '{name}' was not checked: {cause}")

    print(
        f"\nscim2-tester: {totals['passed']} passed, {totals['failed']} failed, "
        f"{totals['skipped']} skipped, {totals['warnings']} warnings, "
        f"{totals['known']} known deviations (see {KNOWN_DEVIATIONS_FILE.name})"
    )
    if problems:
        for problem in problems:
            print(f"FAILED: {problem}")
        return 1

    ignored = [g for g in groups_seen if g not in required and count_statuses(by_group.get(g, []))["failed"]]
    note = f" (failures ignored in groups not required: {', '.join(ignored)})" if ignored else ""
    print(f"OK: every required group passed: {', '.join(sorted(required))}{note}")
    return 0


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if args.list_tags:
        print("\n".join(get_all_available_tags()))
        return 0

    url = args.url.rstrip("/")
    # The trailing slash makes httpx join relative endpoints under the base path.
    http = httpx2.Client(
        base_url=url + "/",
        headers={"Authorization": f"Bearer {args.token}"},
        timeout=args.timeout,
    )
    with http:
        error = probe_server(http, url)
        if error:
            print(f"error: {error}", file=sys.stderr)
            return 2

        client = SyncSCIMClient(http)
        random.seed(args.seed)
        print(f"Running scim2-tester checks against {url} (random seed {args.seed})")
        started = time.monotonic()
        results = check_server(
            client,
            include_tags=set(args.include_tag) or None,
            exclude_tags=set(args.exclude_tag) or None,
        )
        elapsed = time.monotonic() - started
        print(f"{len(results)} checks ran in {elapsed:.1f} s")

        group_aliases, endpoints = build_group_aliases(client)
        return report(results, args.require, group_aliases, endpoints, args.verbose)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
