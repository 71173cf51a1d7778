#!/usr/bin/python3
"""Render a kustomize base and validate every object it yields, strictly.

    k8s_validate.py [--crds DIR] [--dump FILE] [--compare FILE] KUSTOMIZE_DIR

Built-in kinds are checked against the Kubernetes API's own models (Debian's
python3-kubernetes, generated from the API's OpenAPI document): every field
must be one the model declares (an unknown or misspelt field is an error,
as `kubectl apply --validate=strict` makes it), of the declared type, and
every required field present.  Custom resources are checked against the
openAPIV3Schema of their CRD in --crds (the prometheus-operator CRDs),
with additionalProperties false wherever the schema lists properties and
does not preserve unknown fields: what the API server's strict field
validation rejects.  Their metadata goes through the model like any other.

The base is rendered here (resources, namespace, configMapGenerator with
files), refusing any kustomization field it does not implement, because a
fresh Debian or Ubuntu machine has no kustomize; --compare checks the
rendering against `kubectl kustomize` output where kubectl exists.

Prints one line per object, `ok KIND NAME`; exit 1 on the first file with
errors, after printing every error in it.
"""
import argparse
import json
import os
import re
import sys

import jsonschema
import kubernetes.client.models as models
import yaml

# (apiVersion, kind) -> the model that describes it.  An object whose pair
# is not here and not a CRD in --crds is an error: a wrong apiVersion
# (apps/v1beta2) must fail, not pass unchecked.
BUILTIN = {
    ("v1", "Namespace"): "V1Namespace",
    ("v1", "ServiceAccount"): "V1ServiceAccount",
    ("v1", "Service"): "V1Service",
    ("v1", "ConfigMap"): "V1ConfigMap",
    ("apps/v1", "DaemonSet"): "V1DaemonSet",
    ("scheduling.k8s.io/v1", "PriorityClass"): "V1PriorityClass",
}
CLUSTER_SCOPED = {"Namespace", "PriorityClass", "CustomResourceDefinition"}
KUSTOMIZATION_KEYS = {"apiVersion", "kind", "namespace", "resources", "configMapGenerator"}
GENERATOR_KEYS = {"name", "files", "literals", "options"}
GENERATOR_OPTION_KEYS = {"disableNameSuffixHash", "labels", "annotations"}


class Invalid(Exception):
    pass


def type_name(v):
    return type(v).__name__ if v is not None else "null"


def check_model(value, typ, path, errs):
    """Walk value against the python client's type string typ."""
    if typ.startswith("list["):
        if not isinstance(value, list):
            errs.append(f"{path}: expected a list, got {type_name(value)}")
            return
        for i, item in enumerate(value):
            check_model(item, typ[5:-1], f"{path}[{i}]", errs)
        return
    m = re.fullmatch(r"dict\(str, (.*)\)", typ)
    if m:
        if not isinstance(value, dict):
            errs.append(f"{path}: expected a map, got {type_name(value)}")
            return
        for k, v in value.items():
            check_model(v, m.group(1), f"{path}.{k}", errs)
        return
    if typ in ("str", "datetime", "date"):
        ok = isinstance(value, str)
    elif typ == "int":
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif typ == "float":
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif typ == "bool":
        ok = isinstance(value, bool)
    elif typ == "object":
        # IntOrString (ports, maxUnavailable) and free-form fields.
        ok = value is not None
    else:
        check_object(value, typ, path, errs)
        return
    if not ok:
        errs.append(f"{path}: expected {typ}, got {type_name(value)} {value!r}")


def check_object(value, model_name, path, errs):
    cls = getattr(models, model_name)
    if not isinstance(value, dict):
        errs.append(f"{path}: expected an object ({model_name}), got {type_name(value)}")
        return
    by_json = {j: attr for attr, j in cls.attribute_map.items()}
    known = {}
    for key, v in value.items():
        attr = by_json.get(key)
        if attr is None:
            errs.append(f"{path}.{key}: unknown field (not in {model_name})")
            continue
        known[attr] = v
        check_model(v, cls.openapi_types[attr], f"{path}.{key}", errs)
    try:
        cls(**known)    # the model's own checks: required fields
    except (ValueError, TypeError) as e:
        errs.append(f"{path}: {model_name}: {e}")


def strict(schema):
    """The CRD schema as the API server's strict field validation applies it."""
    if isinstance(schema, list):
        return [strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: strict(v) if k != "properties" else {p: strict(s) for p, s in v.items()}
           for k, v in schema.items()}
    if ("properties" in out and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")):
        out["additionalProperties"] = False
    return out


def load_crds(directory):
    crds = {}
    for name in sorted(os.listdir(directory)):
        if not name.endswith(".yaml"):
            continue
        with open(os.path.join(directory, name)) as f:
            for doc in yaml.safe_load_all(f):
                if not doc or doc.get("kind") != "CustomResourceDefinition":
                    continue
                group, kind = doc["spec"]["group"], doc["spec"]["names"]["kind"]
                for ver in doc["spec"]["versions"]:
                    schema = strict(ver["schema"]["openAPIV3Schema"])
                    # metadata is checked by the model, strictly.
                    schema["properties"]["metadata"] = {}
                    crds[(f"{group}/{ver['name']}", kind)] = schema
    return crds


def validate(obj, crds):
    """Errors in one object, as a list of strings."""
    if not isinstance(obj, dict):
        return [f"not an object: {type_name(obj)}"]
    key = (obj.get("apiVersion"), obj.get("kind"))
    errs = []
    if key in BUILTIN:
        check_object(obj, BUILTIN[key], key[1], errs)
    elif key in crds:
        v = jsonschema.Draft7Validator(crds[key])
        for e in sorted(v.iter_errors(obj), key=lambda e: list(e.absolute_path)):
            where = ".".join(str(p) for p in e.absolute_path) or "(top)"
            errs.append(f"{key[1]}.{where}: {e.message}")
        check_object(obj.get("metadata"), "V1ObjectMeta", f"{key[1]}.metadata", errs)
    else:
        return [f"no schema for apiVersion {key[0]!r} kind {key[1]!r}"]
    if not (obj.get("metadata") or {}).get("name"):
        errs.append(f"{key[1]}.metadata.name: required")
    return errs


def load_yaml_docs(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def unknown_keys(d, allowed, where):
    extra = sorted(set(d) - allowed)
    if extra:
        raise Invalid(f"{where}: fields this renderer does not implement: {', '.join(extra)}")


def generate_configmap(base, gen, namespace):
    unknown_keys(gen, GENERATOR_KEYS, f"configMapGenerator {gen.get('name')}")
    opts = gen.get("options") or {}
    unknown_keys(opts, GENERATOR_OPTION_KEYS, "configMapGenerator options")
    if not opts.get("disableNameSuffixHash"):
        raise Invalid("configMapGenerator: name suffix hashes are not rendered here; "
                      "set options.disableNameSuffixHash")
    data = {}
    for entry in gen.get("files") or []:
        k, _, p = entry.partition("=")
        p = p or k
        with open(os.path.join(base, p)) as f:
            data[os.path.basename(k)] = f.read()
    for entry in gen.get("literals") or []:
        k, _, v = entry.partition("=")
        data[k] = v
    meta = {"name": gen["name"]}
    if namespace:
        meta["namespace"] = namespace
    for field in ("labels", "annotations"):
        if opts.get(field):
            meta[field] = dict(opts[field])
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data}


def render(base):
    docs = load_yaml_docs(os.path.join(base, "kustomization.yaml"))
    if len(docs) != 1:
        raise Invalid("kustomization.yaml: expected one document")
    k = docs[0]
    unknown_keys(k, KUSTOMIZATION_KEYS, "kustomization.yaml")
    if (k.get("apiVersion"), k.get("kind")) != ("kustomize.config.k8s.io/v1beta1", "Kustomization"):
        raise Invalid("kustomization.yaml: not a kustomize.config.k8s.io/v1beta1 Kustomization")
    ns = k.get("namespace")
    objs = []
    for res in k.get("resources") or []:
        for obj in load_yaml_docs(os.path.join(base, res)):
            if ns and isinstance(obj, dict) and obj.get("kind") not in CLUSTER_SCOPED:
                obj.setdefault("metadata", {})["namespace"] = ns
            objs.append((res, obj))
    for gen in k.get("configMapGenerator") or []:
        objs.append(("configMapGenerator", generate_configmap(base, gen, ns)))
    return objs


def identity(obj):
    return (obj.get("kind"), obj.get("metadata", {}).get("name"))


def compare(ours, path):
    """Our rendering must equal kubectl kustomize's, object for object."""
    theirs = {identity(o): o for o in load_yaml_docs(path)}
    mine = {identity(o): o for _, o in ours}
    if set(theirs) != set(mine):
        raise Invalid(f"kubectl kustomize yields {sorted(theirs)}, we render {sorted(mine)}")
    for ident, obj in mine.items():
        if json.loads(json.dumps(obj)) != json.loads(json.dumps(theirs[ident])):
            raise Invalid(f"{ident}: our rendering differs from kubectl kustomize's")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--crds")
    ap.add_argument("--dump", help="write the rendered objects as JSON, one list")
    ap.add_argument("--compare", help="kubectl kustomize output to compare with")
    ap.add_argument("base")
    a = ap.parse_args()
    crds = load_crds(a.crds) if a.crds else {}
    try:
        objs = render(a.base)
        if a.compare:
            compare(objs, a.compare)
    except (Invalid, OSError, yaml.YAMLError) as e:
        print(f"FAIL: {e}")
        return 1
    failed = False
    for src, obj in objs:
        errs = validate(obj, crds)
        for e in errs:
            print(f"FAIL {src}: {e}")
        failed |= bool(errs)
        if not errs:
            print("ok %s %s" % identity(obj))
    if a.dump and not failed:
        with open(a.dump, "w") as f:
            json.dump([o for _, o in objs], f)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
