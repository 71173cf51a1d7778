#!/usr/bin/python3
"""Every series the alerts and the dashboard use must be in a real scrape.

    series_check.py OBJECTS.json SCRAPE.txt

OBJECTS.json is k8s_validate.py --dump's output (the rendered base).  The
PromQL of the PrometheusRule's rules and of the dashboard's targets and
variables is split into selectors; each selector's metric must be in the
scrape with a series that satisfies its label matchers, and each label of a
`by (...)`/`without (...)` must be one those series carry.  Labels that
Prometheus adds at scrape time (node from the ServiceMonitor's relabelling,
job, instance, ...) are not the agent's to export, and `up` is made by
Prometheus itself.  Prints what it checked; exit 1 on the first expression
with an unknown series or label.
"""
import json
import re
import sys

TARGET_LABELS = {"node", "job", "instance", "namespace", "pod", "container", "endpoint"}
PROMETHEUS_MADE = {"up"}
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool",
            "and", "or", "unless", "offset", "inf", "nan",
            # Aggregations may take their by (...) before the parenthesis.
            "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count",
            "count_values", "bottomk", "topk", "quantile"}
LABEL_LISTS = {"by", "without", "on", "ignoring", "group_left", "group_right"}
TOKEN = re.compile(r'''
    (?P<str>"(?:[^"\\]|\\.)*")
  | (?P<braces>\{[^}]*\})
  | (?P<range>\[[^\]]*\])
  | (?P<var>\$\w+)
  | (?P<num>\d+(?:\.\d+)?(?:[eE][-+]?\d+)?[a-z]*)
  | (?P<ident>[a-zA-Z_:][a-zA-Z0-9_:]*)
  | (?P<other>\S)
''', re.X)
MATCHER = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*,?')
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+\S+')
SCRAPE_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def load_scrape(path):
    series = {}
    with open(path) as f:
        for line in f:
            m = SAMPLE.match(line)
            if line.startswith("#") or not m:
                continue
            labels = dict(SCRAPE_LABEL.findall(m.group(3) or ""))
            series.setdefault(m.group(1), []).append(labels)
    return series


def parse(expr):
    """Selectors [(metric, [(label, op, value)])] and by/without labels."""
    selectors, grouping = [], []
    tokens = [(m.lastgroup, m.group()) for m in TOKEN.finditer(expr)]
    i = 0
    while i < len(tokens):
        kind, text = tokens[i]
        nxt = tokens[i + 1] if i + 1 < len(tokens) else (None, "")
        if kind == "ident" and text in LABEL_LISTS and nxt[1] == "(":
            i += 2
            while i < len(tokens) and tokens[i][1] != ")":
                if tokens[i][0] == "ident":
                    grouping.append(tokens[i][1])
                i += 1
            i += 1
            continue
        if kind == "ident" and text.lower() not in KEYWORDS and nxt[1] != "(":
            matchers = []
            if nxt[0] == "braces":
                body = nxt[1][1:-1]
                matchers = MATCHER.findall(body)
                if MATCHER.sub("", body).strip():
                    raise ValueError(f"cannot read the matchers {nxt[1]}")
                i += 1
            selectors.append((text, matchers))
        i += 1
    return selectors, grouping


def matches(labels, matchers):
    for name, op, want in matchers:
        have = labels.get(name, "")
        if op == "=" and have != want or op == "!=" and have == want:
            return False
        if op in ("=~", "!~") and bool(re.fullmatch(want, have)) != (op == "=~"):
            return False
    return True


def check(expr, series):
    """Errors in one expression."""
    errs = []
    selectors, grouping = parse(expr)
    if not selectors:
        return [f"no series found in {expr!r}"]
    carried = set(TARGET_LABELS)
    for metric, matchers in selectors:
        if metric in PROMETHEUS_MADE:
            continue
        if metric not in series:
            errs.append(f"{metric}: not in the agent's /metrics")
            continue
        own = [m for m in matchers if m[0] not in TARGET_LABELS]
        if not any(matches(s, own) for s in series[metric]):
            errs.append(f"{metric}{{{', '.join(''.join(m[:2]) + repr(m[2]) for m in own)}}}: "
                        f"no series of {metric} matches")
        for s in series[metric]:
            carried |= set(s)
    for label in grouping:
        if label not in carried:
            errs.append(f"by/without ({label}): no series of this expression has that label")
    return errs


def expressions(objects):
    """(where, expr) for every rule and every dashboard query."""
    out = []
    for obj in objects:
        if obj["kind"] == "PrometheusRule":
            for g in obj["spec"]["groups"]:
                for r in g["rules"]:
                    out.append((f"rule {r.get('alert') or r.get('record')}", str(r["expr"])))
        if obj["kind"] == "ConfigMap":
            for key, text in obj.get("data", {}).items():
                if not key.endswith(".json"):
                    continue
                dash = json.loads(text)
                for p in dash.get("panels", []):
                    for t in p.get("targets", []):
                        out.append((f"panel {p['title']!r} {t['refId']}", t["expr"]))
                for v in dash.get("templating", {}).get("list", []):
                    q = v.get("query")
                    q = q.get("query") if isinstance(q, dict) else None
                    m = re.fullmatch(r"label_values\((\w+),\s*(\w+)\)", q or "")
                    if m:
                        out.append((f"variable {v['name']}", m.group(1)))
    return out


def main():
    with open(sys.argv[1]) as f:
        objects = json.load(f)
    series = load_scrape(sys.argv[2])
    exprs = expressions(objects)
    failed, selectors = False, 0
    for where, expr in exprs:
        try:
            errs = check(expr, series)
            selectors += len(parse(expr)[0])
        except ValueError as e:
            errs = [str(e)]
        for e in errs:
            print(f"FAIL {where}: {e}")
        failed |= bool(errs)
    rules = sum(w.startswith("rule ") for w, _ in exprs)
    panels = len({w.rsplit(" ", 1)[0] for w, _ in exprs if w.startswith("panel ")})
    print(f"checked {selectors} selectors in {len(exprs)} expressions "
          f"({rules} rules, {panels} panels) against {len(series)} metrics")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
