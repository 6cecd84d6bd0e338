#!/usr/bin/env python3
"""Check JSON documents against a schema of docs/schema/ (docs/json.md).

  jsonschema_check.py [--strict] [--lines] SCHEMA FILE...

Each FILE ("-": stdin) is one document (--lines: one per non-empty line).
--strict: a key the schema does not name is an error too, where the schema
names its keys ("properties"; a map's keys are free): what berth prints and
its documentation must not drift apart.

The subset of JSON Schema the schemas use, and nothing else: type (a name or
a list), enum, required, properties, additionalProperties (false, or the
schema of a map's values), items, anyOf, and $ref to a file of the same
directory. Unknown keywords are annotations: "x-optional" names properties
a document may leave out (json_docs_check.py holds the schemas to it).
"""
import json
import os
import sys

TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}


def is_type(v, t):
    if t in ("integer", "number"):
        ok = int if t == "integer" else (int, float)
        return isinstance(v, ok) and not isinstance(v, bool)
    return isinstance(v, TYPES[t])


def load(path):
    with open(path) as f:
        return json.load(f)


def check(schema, v, where, base, strict=False, trace=None):
    """The errors of v against schema (base: the schemas' directory). trace,
    when given, gets where -> schema for each object checked against named
    properties."""
    errs = []
    if "$ref" in schema:
        errs += check(load(os.path.join(base, schema["$ref"])), v, where, base, strict, trace)
    types = schema.get("type")
    if types is not None:
        types = types if isinstance(types, list) else [types]
        if not any(is_type(v, t) for t in types):
            return errs + ["%s: %s is not %s" % (where, json.dumps(v), " or ".join(types))]
    if "enum" in schema and not any(type(v) is type(e) and v == e for e in schema["enum"]):
        errs.append("%s: %s is not one of %s" % (where, json.dumps(v), json.dumps(schema["enum"])))
    if "anyOf" in schema:
        for sub in schema["anyOf"]:
            t = {}
            if not check(sub, v, where, base, strict, t):
                if trace is not None:
                    trace.update(t)
                break
        else:
            errs.append("%s: %s matches none of anyOf" % (where, json.dumps(v)[:200]))
    if isinstance(v, dict):
        props = schema.get("properties", {})
        if props and trace is not None:
            trace[where] = schema
        errs += ["%s: no key %r" % (where, k) for k in schema.get("required", []) if k not in v]
        extra = schema.get("additionalProperties", True)
        for k, x in v.items():
            if k in props:
                errs += check(props[k], x, "%s.%s" % (where, k), base, strict, trace)
            elif extra is False or (strict and props):
                errs.append("%s: key %r is not in the schema" % (where, k))
            elif isinstance(extra, dict):
                errs += check(extra, x, "%s.%s" % (where, k), base, strict, trace)
    if isinstance(v, list) and "items" in schema:
        for i, x in enumerate(v):
            errs += check(schema["items"], x, "%s[%d]" % (where, i), base, strict, trace)
    return errs


def main(argv):
    strict = "--strict" in argv
    lines = "--lines" in argv
    argv = [a for a in argv if a not in ("--strict", "--lines")]
    if len(argv) < 2:
        sys.exit(__doc__)
    schema, base, errs = load(argv[0]), os.path.dirname(argv[0]), []
    for path in argv[1:]:
        text = sys.stdin.read() if path == "-" else open(path).read()
        docs = [l for l in text.splitlines() if l.strip()] if lines else [text]
        if not docs or not docs[0].strip():
            errs.append("%s: no document" % path)
        for i, d in enumerate(docs):
            try:
                doc = json.loads(d)
            except ValueError as e:
                errs.append("%s:%d: not JSON: %s" % (path, i + 1, e))
                continue
            errs += ["%s: %s" % (path, e) for e in check(schema, doc, "$", base, strict)]
    for e in errs:
        print("jsonschema_check: %s: %s" % (os.path.basename(argv[0]), e), file=sys.stderr)
    return 1 if errs else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
