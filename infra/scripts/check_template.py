#!/usr/bin/env python3
"""Checks template.yaml against the Rust code and the project's rules.

Run with the pinned venv (it needs cfn-lint's YAML decoder, which understands !Ref,
!GetAtt, !Sub):

    .tools/py/bin/python infra/scripts/check_template.py \
        [--template template.yaml] [--admin-bin target/debug/nsauth-admin | --routes-json FILE]

Checks:
  1. routes    the (binary, METHOD, path) triples of the HttpApi events equal the route
               table printed by `nsauth-admin routes`; every AWS::Serverless::Function is
               built with rust-cargolambda from CodeUri "." and names its Binary; every
               HttpApi event is on an AWS::Serverless::HttpApi of this template.
  2. table     the one AWS::DynamoDB::Table matches TableSpec::create in
               shared/src/store/dynamo.rs (pk/sk, GSI gsi1, TTL "ttl", stream with new and
               old images) plus on-demand billing, point-in-time recovery and Retain.
  3. iam       every function's Policies are inline policy documents; actions are
               dynamodb:/sns:/execute-api: and contain no wildcard; every dynamodb
               statement is on the table (or its gsi1 index) and has a ForAllValues
               dynamodb:LeadingKeys condition.
  4. globals   Runtime provided.al2023, Architectures [arm64], MemorySize 128,
               LoggingConfig.LogFormat JSON (and no function overrides them).
  5. stream    every DynamoDB stream event reports batch item failures, bisects, has a
               bounded MaximumRetryAttempts (1-10) and a MaximumRecordAgeInSeconds below the
               stream's 24 hours, and sends given-up batches to an SQS queue of this template
               (DestinationConfig.OnFailure, !GetAtt <queue>.Arn) that is encrypted with
               SQS-managed SSE and keeps messages 14 days; the function may sqs:SendMessage to
               that queue (and no other sqs: action or resource: checked in 3); an alarm
               notifies (AlarmTopic, like the others) when the queue's
               ApproximateNumberOfMessagesVisible is above 0; an output gives its URL.
  6. schedule  logins ended by their lifetime (shared/src/service/lifetimes.rs): the function
               on the stream of SESSION# records also has a Schedule event, enabled, at
               rate(1 minute) (the 60 s promise of docs/live.md), and may Query the index gsi2
               under ENDS#* only.

Prints every mismatch and exits 1 if there is any; exits 0 otherwise.
The admin binary defaults to $NSAUTH_ADMIN_BIN, else target/debug/nsauth-admin.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from typing import Any

from cfnlint.decode import decode

ALLOWED_ACTION_PREFIXES = ("dynamodb:", "sns:", "execute-api:", "sqs:")
# sqs: only for a stream's on-failure destination (check 5).
ALLOWED_SQS_ACTIONS = ("sqs:sendmessage",)
STREAM_RETENTION_SECONDS = 86400
FAILURE_QUEUE_RETENTION_SECONDS = 14 * 86400
GSI_NAME = "gsi1"
GSI_NAMES = ("gsi1", "gsi2")
EXPECTED_GLOBALS = {
    "Runtime": "provided.al2023",
    "Architectures": ["arm64"],
    "MemorySize": 128,
    "LoggingConfig.LogFormat": "JSON",
}


class Problems:
    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []

    def add(self, check: str, message: str) -> None:
        self.items.append((check, message))


def plain(v: Any) -> Any:
    """cfn-lint's node classes to plain dicts, lists, strings (for messages and compares)."""
    if isinstance(v, dict):
        return {str(k): plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [plain(x) for x in v]
    if isinstance(v, str):
        return str(v)
    return v


def show(v: Any) -> str:
    return json.dumps(plain(v), sort_keys=True)


def get_path(d: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(d, dict) or part not in d:
            return None
        d = d[part]
    return d


def is_true(v: Any) -> bool:
    return v is True or (isinstance(v, str) and v.lower() == "true")


def as_list(v: Any) -> list:
    return v if isinstance(v, list) else [v]


# ---- 1. routes --------------------------------------------------------------------------

def load_code_routes(args: argparse.Namespace, p: Problems) -> dict[tuple[str, str], str] | None:
    """{(METHOD, path): binary} from `nsauth-admin routes` or --routes-json."""
    if args.routes_json:
        source = args.routes_json
        try:
            with open(args.routes_json, encoding="utf-8") as f:
                text = f.read()
        except OSError as e:
            p.add("routes", f"cannot read {source}: {e}")
            return None
    else:
        source = f"{args.admin_bin} routes"
        if not os.path.isfile(args.admin_bin):
            p.add("routes", f"{args.admin_bin} not found: build it first (cargo build -p nsauth-admin,"
                            " or cargo test --workspace) or set NSAUTH_ADMIN_BIN")
            return None
        try:
            r = subprocess.run([args.admin_bin, "routes"], capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as e:
            p.add("routes", f"cannot run {source}: {e}")
            return None
        if r.returncode != 0:
            p.add("routes", f"{source} exited {r.returncode}: {r.stderr.strip()}")
            return None
        text = r.stdout
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        p.add("routes", f"{source}: not JSON: {e}")
        return None
    if not isinstance(data, dict):
        p.add("routes", f'{source}: expected {{"<binary>": ["METHOD /path", ...]}}, got {show(data)}')
        return None
    routes: dict[tuple[str, str], str] = {}
    for binary, entries in data.items():
        if not isinstance(entries, list):
            p.add("routes", f"{source}: routes of {binary} are not a list: {show(entries)}")
            continue
        for e in entries:
            m = re.fullmatch(r"([A-Z]+) (/\S*)", e) if isinstance(e, str) else None
            if not m:
                p.add("routes", f'{source}: {binary}: {show(e)} is not "METHOD /path"')
                continue
            key = (m.group(1), m.group(2))
            if key in routes:
                p.add("routes", f"{source}: {key[0]} {key[1]} is listed for both {routes[key]} and {binary}")
            routes[key] = binary
    return routes


def check_functions_and_routes(tpl: dict, functions: dict, code: dict | None, p: Problems) -> None:
    resources = tpl.get("Resources", {})
    globals_fn = get_path(tpl, "Globals.Function") or {}
    http_apis = {k for k, r in resources.items() if isinstance(r, dict) and r.get("Type") == "AWS::Serverless::HttpApi"}
    # (METHOD, path) -> list of (function logical id, binary)
    tmpl: dict[tuple[str, str], list[tuple[str, str]]] = {}
    defaults: list[tuple[str, str]] = []
    for name, res in functions.items():
        meta = res.get("Metadata") or {}
        props = res.get("Properties") or {}
        if meta.get("BuildMethod") != "rust-cargolambda":
            p.add("routes", f"{name}: Metadata.BuildMethod is {show(meta.get('BuildMethod'))}, expected \"rust-cargolambda\"")
        binary = get_path(meta, "BuildProperties.Binary")
        if not isinstance(binary, str) or not binary:
            p.add("routes", f"{name}: Metadata.BuildProperties.Binary is missing (it must name the Rust binary)")
            binary = None
        code_uri = props.get("CodeUri", globals_fn.get("CodeUri"))
        if code_uri != ".":
            p.add("routes", f"{name}: CodeUri is {show(code_uri)}, expected \".\" (the workspace root)")
        for ev_name, ev in (props.get("Events") or {}).items():
            if not isinstance(ev, dict) or ev.get("Type") != "HttpApi":
                continue
            ep = ev.get("Properties") or {}
            method, path = ep.get("Method"), ep.get("Path")
            where = f"{name}: event {ev_name}"
            if not isinstance(method, str) or not isinstance(path, str):
                p.add("routes", f"{where}: HttpApi event needs literal Method and Path (got {show(method)} {show(path)})")
                continue
            api = ep.get("ApiId")
            if not (isinstance(api, dict) and list(api.keys()) == ["Ref"] and api["Ref"] in http_apis):
                p.add("routes", f"{where}: ApiId is {show(api)}, expected !Ref to an AWS::Serverless::HttpApi of this"
                                " template (without it SAM makes a second, implicit API)")
            if len(path) > 1 and path.endswith("/"):
                p.add("routes", f"{where}: path {path} ends with \"/\" (HTTP API route keys cannot)")
            if path == "$default":
                # The catch-all route: unmatched requests get the API's JSON 404/405 (the
                # dispatcher answers them from the whole route table). Exactly one, ANY.
                defaults.append((name, method.upper()))
                continue
            tmpl.setdefault((method.upper(), path), []).append((name, binary or "<none>"))

    if len(defaults) != 1 or defaults[0][1] != "ANY":
        p.add("routes", f"expected exactly one ANY $default (catch-all) route, found {defaults}")
    for key, owners in sorted(tmpl.items()):
        if len(owners) > 1:
            p.add("routes", f"{key[0]} {key[1]} is declared by more than one function: "
                            + ", ".join(f"{f} ({b})" for f, b in owners))
    # Route throttles name routes by key ("METHOD /path" or "$default"); API Gateway refuses a
    # deployment whose RouteSettings name a route that does not exist.
    for api in sorted(http_apis):
        settings = get_path(resources[api], "Properties.RouteSettings") or {}
        for route_key in settings:
            if route_key == "$default":
                continue
            method, _, path = str(route_key).partition(" ")
            if (method.upper(), path) not in tmpl:
                p.add("routes", f"{api}: RouteSettings names {route_key!r}, which is no route of this API")
    if code is None:
        return
    for key in sorted(set(code) | set(tmpl)):
        route = f"{key[0]} {key[1]}"
        in_code = code.get(key)
        owners = tmpl.get(key, [])
        if in_code is None:
            for f, b in owners:
                p.add("routes", f"{route}: in template ({f}, binary {b}) but not in the code's route table")
        elif not owners:
            p.add("routes", f"{route}: in the code's route table (binary {in_code}) but not in template")
        else:
            for f, b in owners:
                if b != in_code:
                    p.add("routes", f"{route}: on function {f} (binary {b}) in template but served by binary"
                                    f" {in_code} in code")


# ---- 2. table ---------------------------------------------------------------------------

def check_table(resources: dict, p: Problems) -> str | None:
    tables = [k for k, r in resources.items() if isinstance(r, dict) and r.get("Type") == "AWS::DynamoDB::Table"]
    if len(tables) != 1:
        p.add("table", f"expected exactly one AWS::DynamoDB::Table, found {len(tables)}: {tables}")
        return None
    name = tables[0]
    res = resources[name]
    props = plain(res.get("Properties") or {})

    def expect(what: str, got: Any, want: Any) -> None:
        if got != want:
            p.add("table", f"{name}: {what} is {show(got)}, expected {show(want)}")

    expect("DeletionPolicy", res.get("DeletionPolicy"), "Retain")
    expect("UpdateReplacePolicy", res.get("UpdateReplacePolicy"), "Retain")
    expect("BillingMode", props.get("BillingMode"), "PAY_PER_REQUEST")
    if "ProvisionedThroughput" in props:
        p.add("table", f"{name}: ProvisionedThroughput must not be set (on-demand table)")
    attrs = props.get("AttributeDefinitions")
    attrs_got = sorted((a.get("AttributeName"), a.get("AttributeType")) for a in attrs) \
        if isinstance(attrs, list) and all(isinstance(a, dict) for a in attrs) else attrs
    expect("AttributeDefinitions", attrs_got, sorted([("gsi1pk", "S"), ("gsi1sk", "S"), ("gsi2pk", "S"),
                                                      ("gsi2sk", "S"), ("pk", "S"), ("sk", "S")]))
    expect("KeySchema", props.get("KeySchema"),
           [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}])
    expect("GlobalSecondaryIndexes", props.get("GlobalSecondaryIndexes"), [{
        "IndexName": GSI_NAME,
        "KeySchema": [{"AttributeName": "gsi1pk", "KeyType": "HASH"},
                      {"AttributeName": "gsi1sk", "KeyType": "RANGE"}],
        "Projection": {"ProjectionType": "ALL"},
    }, {
        "IndexName": "gsi2",
        "KeySchema": [{"AttributeName": "gsi2pk", "KeyType": "HASH"},
                      {"AttributeName": "gsi2sk", "KeyType": "RANGE"}],
        "Projection": {"ProjectionType": "KEYS_ONLY"},
    }])
    if "LocalSecondaryIndexes" in props:
        p.add("table", f"{name}: LocalSecondaryIndexes must not be set")
    ttl = props.get("TimeToLiveSpecification") or {}
    if not (is_true(ttl.get("Enabled")) and ttl.get("AttributeName") == "ttl"):
        p.add("table", f"{name}: TimeToLiveSpecification is {show(ttl)}, expected Enabled true on attribute \"ttl\"")
    expect("StreamSpecification.StreamViewType", get_path(props, "StreamSpecification.StreamViewType"),
           "NEW_AND_OLD_IMAGES")
    pitr = get_path(props, "PointInTimeRecoverySpecification.PointInTimeRecoveryEnabled")
    if not is_true(pitr):
        p.add("table", f"{name}: PointInTimeRecoverySpecification.PointInTimeRecoveryEnabled is {show(pitr)},"
                       " expected true")
    return name


# ---- 3. iam -----------------------------------------------------------------------------

def table_resource_ok(r: Any, table: str) -> bool:
    """!GetAtt Table.Arn, or !Sub "${Table.Arn}" / "${Table.Arn}/index/gsi1" (also the
    [string, {Var: !GetAtt Table.Arn}] form of !Sub)."""
    if not isinstance(r, dict) or len(r) != 1:
        return False
    fn, arg = next(iter(r.items()))
    if fn == "Fn::GetAtt":
        return arg in ([table, "Arn"], f"{table}.Arn")
    if fn != "Fn::Sub":
        return False
    if isinstance(arg, list) and len(arg) == 2 and isinstance(arg[0], str) and isinstance(arg[1], dict):
        s, variables = arg
        for var, val in variables.items():
            if table_resource_ok(val, table) and not (isinstance(val, dict) and "Fn::Sub" in val):
                s = s.replace("${%s}" % var, "${%s.Arn}" % table)
    elif isinstance(arg, str):
        s = arg
    else:
        return False
    return s in ("${%s.Arn}" % table, *("${%s.Arn}/index/%s" % (table, g) for g in GSI_NAMES))


def check_iam(tpl: dict, functions: dict, table: str | None, p: Problems) -> None:
    globals_fn = get_path(tpl, "Globals.Function") or {}
    for key in ("Role", "Policies"):
        if key in globals_fn:
            p.add("iam", f"Globals.Function.{key} must not be set (each function lists its own inline policies)")
    for name, res in functions.items():
        props = res.get("Properties") or {}
        if "Role" in props:
            p.add("iam", f"{name}: Role must not be set (SAM would ignore Policies; use inline Policies)")
        policies = props.get("Policies")
        if policies is None:
            continue  # no permissions beyond logging
        for i, doc in enumerate(as_list(policies)):
            where = f"{name}: Policies[{i}]"
            if isinstance(doc, str):
                p.add("iam", f"{where}: managed policy {doc!r} not allowed, use inline statements")
                continue
            if not isinstance(doc, dict) or "Statement" not in doc:
                what = show(list(doc.keys())) if isinstance(doc, dict) else show(doc)
                p.add("iam", f"{where}: {what} is not an inline policy document (SAM policy templates and"
                             " managed policies are not allowed)")
                continue
            for j, st in enumerate(as_list(doc["Statement"])):
                check_statement(f"{where}.Statement[{j}]", st, table, p, failure_queues(res))


def failure_queues(function: dict) -> list[str]:
    """Logical ids of the queues that the function's stream events name as their on-failure
    destination (!GetAtt <queue>.Arn)."""
    out = []
    for ev in ((function.get("Properties") or {}).get("Events") or {}).values():
        if isinstance(ev, dict) and ev.get("Type") == "DynamoDB":
            q = getatt_arn(get_path(ev, "Properties.DestinationConfig.OnFailure.Destination"))
            if q is not None:
                out.append(q)
    return out


def getatt_arn(v: Any, attribute: str = "Arn") -> str | None:
    """X for !GetAtt X.Arn (or X.<attribute>), else None."""
    if not isinstance(v, dict) or list(v.keys()) != ["Fn::GetAtt"]:
        return None
    arg = plain(v["Fn::GetAtt"])
    if isinstance(arg, str):
        arg = arg.split(".", 1)
    if isinstance(arg, list) and len(arg) == 2 and arg[1] == attribute and isinstance(arg[0], str):
        return arg[0]
    return None


def check_statement(where: str, st: Any, table: str | None, p: Problems,
                    sqs_queues: list[str] | None = None) -> None:
    if not isinstance(st, dict):
        p.add("iam", f"{where}: not a statement: {show(st)}")
        return
    if "Sid" in st:
        where += f" ({st['Sid']})"
    for key in ("NotAction", "NotResource", "NotPrincipal"):
        if key in st:
            p.add("iam", f"{where}: {key} not allowed")
    actions = st.get("Action")
    if actions is None or not all(isinstance(a, str) for a in as_list(actions)):
        p.add("iam", f"{where}: Action must be a literal string or list of strings, got {show(actions)}")
        return
    is_dynamo = False
    for a in as_list(actions):
        if "*" in a or "?" in a:
            p.add("iam", f"{where}: wildcard action {a!r} not allowed")
        if not a.lower().startswith(ALLOWED_ACTION_PREFIXES):
            p.add("iam", f"{where}: action {a!r} not allowed (only {', '.join(ALLOWED_ACTION_PREFIXES)})")
        if a.lower().startswith("dynamodb:"):
            is_dynamo = True
        if a.lower().startswith("sqs:"):
            if a.lower() not in ALLOWED_SQS_ACTIONS:
                p.add("iam", f"{where}: action {a!r} not allowed (sqs: only SendMessage, to a stream's"
                             " on-failure queue)")
            for r in as_list(st.get("Resource")):
                if getatt_arn(r) not in (sqs_queues or []):
                    p.add("iam", f"{where}: sqs Resource {show(r)} is not an on-failure queue of this"
                                 f" function's stream events ({sqs_queues or 'none'})")
    if not is_dynamo:
        return
    if table is not None:
        for r in as_list(st.get("Resource")):
            if not table_resource_ok(r, table):
                p.add("iam", f"{where}: dynamodb Resource {show(r)} is not the table (!GetAtt {table}.Arn, or"
                             f" !Sub \"${{{table}.Arn}}\" or \"${{{table}.Arn}}/index/<gsi1|gsi2>\")")
    cond = st.get("Condition")
    ops = [op for op, kv in cond.items() if isinstance(kv, dict)
           and any(str(k).lower() == "dynamodb:leadingkeys" for k in kv)] if isinstance(cond, dict) else []
    if not ops:
        p.add("iam", f"{where}: dynamodb statement has no dynamodb:LeadingKeys condition")
    for op in ops:
        if not op.startswith("ForAllValues:"):
            p.add("iam", f"{where}: dynamodb:LeadingKeys under {op}; use ForAllValues:StringEquals/StringLike"
                         " (it is multi-valued: BatchGetItem)")
        vals = next(v for k, v in cond[op].items() if str(k).lower() == "dynamodb:leadingkeys")
        for v in as_list(vals):
            if not isinstance(v, str) or v.strip("*") == "":
                p.add("iam", f"{where}: dynamodb:LeadingKeys value {show(v)} does not restrict the keys")


# ---- 4. globals -------------------------------------------------------------------------

def check_globals(tpl: dict, functions: dict, p: Problems) -> None:
    g = get_path(tpl, "Globals.Function") or {}
    for key, want in EXPECTED_GLOBALS.items():
        got = plain(get_path(g, key))
        if isinstance(want, int) and isinstance(got, str) and got.isdigit():
            got = int(got)
        if got != want:
            p.add("globals", f"Globals.Function.{key} is {show(got)}, expected {show(want)}")
        for name, res in functions.items():
            props = res.get("Properties") or {}
            if get_path(props, key) is not None:
                p.add("globals", f"{name}: overrides {key} ({show(get_path(props, key))}); set it in Globals only")


# ---- 5. stream ------------------------------------------------------------------------

def as_int(v: Any) -> int | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, str) and v.lstrip("-").isdigit():
        return int(v)
    return None


def check_streams(tpl: dict, functions: dict, p: Problems) -> int:
    """Returns the number of stream events checked."""
    resources = tpl.get("Resources") or {}
    n = 0
    for name, res in functions.items():
        props = res.get("Properties") or {}
        for ev_name, ev in (props.get("Events") or {}).items():
            if not isinstance(ev, dict) or ev.get("Type") != "DynamoDB":
                continue
            n += 1
            where = f"{name}: event {ev_name}"
            ep = ev.get("Properties") or {}
            if "ReportBatchItemFailures" not in as_list(plain(ep.get("FunctionResponseTypes"))):
                p.add("stream", f"{where}: FunctionResponseTypes must include ReportBatchItemFailures (a poison"
                                " record is reported alone)")
            if not is_true(ep.get("BisectBatchOnFunctionError")):
                p.add("stream", f"{where}: BisectBatchOnFunctionError must be true")
            retries = as_int(ep.get("MaximumRetryAttempts"))
            if retries is None or not 1 <= retries <= 10:
                p.add("stream", f"{where}: MaximumRetryAttempts is {show(ep.get('MaximumRetryAttempts'))},"
                                " expected 1-10 (unset or -1 retries a poison record until the stream drops it)")
            age = as_int(ep.get("MaximumRecordAgeInSeconds"))
            if age is None or not 60 <= age < STREAM_RETENTION_SECONDS:
                p.add("stream", f"{where}: MaximumRecordAgeInSeconds is {show(ep.get('MaximumRecordAgeInSeconds'))},"
                                f" expected 60-{STREAM_RETENTION_SECONDS - 1} (given up on, and recorded, before"
                                " the stream drops it)")
            dest = get_path(ep, "DestinationConfig.OnFailure.Destination")
            queue = getatt_arn(dest)
            qres = resources.get(queue) if queue else None
            if not (isinstance(qres, dict) and qres.get("Type") == "AWS::SQS::Queue"):
                p.add("stream", f"{where}: DestinationConfig.OnFailure.Destination is {show(dest)}, expected"
                                " !GetAtt <an AWS::SQS::Queue of this template>.Arn")
                continue
            check_failure_queue(tpl, name, queue, qres, p)
    return n


def check_login_ends(functions: dict, p: Problems) -> None:
    """The schedule that writes down logins ended by their lifetime (check 6)."""
    session_streams = [name for name, res in functions.items()
                       for ev in ((res.get("Properties") or {}).get("Events") or {}).values()
                       if isinstance(ev, dict) and ev.get("Type") == "DynamoDB"
                       and "SESSION#" in json.dumps(plain(ev.get("Properties") or {}))]
    if len(session_streams) != 1:
        p.add("schedule", f"expected one function on the stream of SESSION# records, found {session_streams}")
        return
    name = session_streams[0]
    props = functions[name].get("Properties") or {}
    schedules = [plain(ev.get("Properties") or {}) for ev in (props.get("Events") or {}).values()
                 if isinstance(ev, dict) and ev.get("Type") == "Schedule"]
    if not any(s.get("Schedule") == "rate(1 minute)" and s.get("Enabled", True) is not False
               for s in schedules):
        p.add("schedule", f"{name}: needs an enabled Schedule event at rate(1 minute) (logins ended by their"
                          " lifetime get their LOGOUT within 60 s)")
    statements = [st for doc in as_list(props.get("Policies")) if isinstance(doc, dict)
                  for st in as_list(doc.get("Statement"))]
    index_queries = [plain(st) for st in statements if isinstance(st, dict)
                     and "gsi2" in json.dumps(plain(st.get("Resource")))
                     and "dynamodb:query" in [a.lower() for a in as_list(plain(st.get("Action")))]]
    keys = [get_path(st, "Condition") for st in index_queries]
    want = {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["ENDS#*"]}}
    if not index_queries or any(k != want for k in keys):
        p.add("schedule", f"{name}: needs dynamodb:Query on ${{Table.Arn}}/index/gsi2 with LeadingKeys"
                          f" [\"ENDS#*\"] only (got {show(keys)})")


def check_failure_queue(tpl: dict, function: str, queue: str, qres: dict, p: Problems) -> None:
    resources = tpl.get("Resources") or {}
    qprops = plain(qres.get("Properties") or {})
    if not is_true(qprops.get("SqsManagedSseEnabled")) or "KmsMasterKeyId" in qprops:
        p.add("stream", f"{queue}: expected SqsManagedSseEnabled true (SQS-managed encryption), no KmsMasterKeyId")
    if as_int(qprops.get("MessageRetentionPeriod")) != FAILURE_QUEUE_RETENTION_SECONDS:
        p.add("stream", f"{queue}: MessageRetentionPeriod is {show(qprops.get('MessageRetentionPeriod'))},"
                        f" expected {FAILURE_QUEUE_RETENTION_SECONDS} (14 days)")
    # The function may send to it (check 3 refuses any other sqs: action or resource).
    sends = False
    for doc in as_list((resources[function].get("Properties") or {}).get("Policies") or []):
        for st in as_list(doc.get("Statement") if isinstance(doc, dict) else []):
            if isinstance(st, dict) and st.get("Effect") == "Allow" \
                    and "sqs:sendmessage" in [str(a).lower() for a in as_list(st.get("Action"))] \
                    and queue in [getatt_arn(r) for r in as_list(st.get("Resource"))]:
                sends = True
    if not sends:
        p.add("stream", f"{function}: no statement allows sqs:SendMessage on !GetAtt {queue}.Arn (the"
                        " event source mapping sends with the function's role)")
    # An alarm on its first message, notifying like the template's other alarms.
    alarmed = False
    for name, r in resources.items():
        if not (isinstance(r, dict) and r.get("Type") == "AWS::CloudWatch::Alarm"):
            continue
        a = r.get("Properties") or {}
        if a.get("Namespace") != "AWS/SQS" or not any(
                isinstance(d, dict) and d.get("Name") == "QueueName"
                and getatt_arn(d.get("Value"), "QueueName") == queue for d in as_list(a.get("Dimensions") or [])):
            continue
        alarmed = True
        if a.get("MetricName") != "ApproximateNumberOfMessagesVisible" \
                or a.get("ComparisonOperator") != "GreaterThanThreshold" \
                or as_int(a.get("Threshold")) != 0:
            p.add("stream", f"{name}: expected ApproximateNumberOfMessagesVisible GreaterThanThreshold 0")
        if "AlarmTopic" not in show(a.get("AlarmActions")):
            p.add("stream", f"{name}: AlarmActions do not notify the AlarmTopic as the other alarms do")
    if not alarmed:
        p.add("stream", f"{queue}: no AWS::CloudWatch::Alarm on its ApproximateNumberOfMessagesVisible"
                        f" (Dimensions QueueName !GetAtt {queue}.QueueName)")
    outputs = tpl.get("Outputs") or {}
    if not any(isinstance(o, dict) and plain(o.get("Value")) == {"Ref": queue} for o in outputs.values()):
        p.add("stream", f"{queue}: no output gives its URL (!Ref {queue})")


# -----------------------------------------------------------------------------------------

def check_watch_router(cargo_toml: str, code: dict | None, p: Problems) -> None:
    """`cargo lambda watch` routes ([workspace.metadata.lambda.watch.router] in Cargo.toml)
    must be the code's routes, each to the same binary."""
    import tomllib

    if code is None:
        return
    try:
        with open(cargo_toml, "rb") as f:
            meta = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as e:
        p.add("watch-router", f"cannot read {cargo_toml}: {e}")
        return
    router = (((meta.get("workspace") or {}).get("metadata") or {}).get("lambda") or {}).get("watch", {}).get("router")
    if not isinstance(router, dict):
        p.add("watch-router", f"{cargo_toml} has no [workspace.metadata.lambda.watch.router] table")
        return
    watch: dict[tuple[str, str], str] = {}
    for path, entries in router.items():
        for e in entries if isinstance(entries, list) else []:
            watch[(str(e.get("method", "")).upper(), path)] = e.get("function", "")
    for key in sorted(set(code) | set(watch)):
        if key not in watch:
            p.add("watch-router", f"{key[0]} {key[1]} is in the code but not in the cargo lambda watch router")
        elif key not in code:
            p.add("watch-router", f"{key[0]} {key[1]} is in the cargo lambda watch router but not in the code")
        elif watch[key] != code[key]:
            p.add("watch-router", f"{key[0]} {key[1]} goes to {watch[key]} in the watch router, {code[key]} in the code")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--template", default="template.yaml")
    src = ap.add_mutually_exclusive_group()
    src.add_argument("--admin-bin", default=os.environ.get("NSAUTH_ADMIN_BIN") or "target/debug/nsauth-admin",
                     help="nsauth-admin binary whose `routes` output is compared (default: $NSAUTH_ADMIN_BIN,"
                          " else target/debug/nsauth-admin)")
    src.add_argument("--routes-json", help="read the code's routes from this file instead of the binary")
    args = ap.parse_args()

    tpl, matches = decode(args.template)
    if matches or not isinstance(tpl, dict):
        for m in matches:
            print(f"check_template.py: {args.template}: {m}", file=sys.stderr)
        print(f"check_template.py: cannot parse {args.template}", file=sys.stderr)
        return 1

    p = Problems()
    resources = tpl.get("Resources") or {}
    functions = {k: r for k, r in resources.items()
                 if isinstance(r, dict) and r.get("Type") == "AWS::Serverless::Function"}
    code = load_code_routes(args, p)
    check_functions_and_routes(tpl, functions, code, p)
    table = check_table(resources, p)
    check_iam(tpl, functions, table, p)
    check_globals(tpl, functions, p)
    n_streams = check_streams(tpl, functions, p)
    check_login_ends(functions, p)
    check_watch_router(os.path.join(os.path.dirname(os.path.abspath(args.template)), "Cargo.toml"), code, p)

    if p.items:
        print(f"check_template.py: {args.template}: {len(p.items)} problem(s):", file=sys.stderr)
        for check, msg in p.items:
            print(f"  [{check}] {msg}", file=sys.stderr)
        return 1
    n_routes = len(code or {})
    print(f"check_template.py: {args.template}: ok ({len(functions)} functions, {n_routes} routes match"
          f" the code and the cargo lambda watch router; table {table}; inline least-privilege"
          f" policies; globals; {n_streams} stream event(s) with a failure queue and its alarm;"
          f" the login-end schedule)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
