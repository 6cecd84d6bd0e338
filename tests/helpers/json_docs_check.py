#!/usr/bin/env python3
"""Hold docs/json.md and the schemas of docs/schema/ to each other.

  json_docs_check.py JSON.md SCHEMA_DIR

Each ```json block of JSON.md follows a line <!-- schema: NAME... --> (one
NAME for all the documents of the block, or one per document). Every example
must validate against SCHEMA_DIR/NAME.json; every key it shows must be a
property of its schema; and taking out any key that the schema does not list
in "x-optional" must make the example invalid (the schema requires what the
docs show). Every schema must be used by an example or a $ref, and each of
its properties be required or x-optional.
"""
import copy
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from jsonschema_check import check, load  # noqa: E402


def objects(v, where="$", path=()):
    """(where, path, object) of every object in v; path: the keys to it."""
    if isinstance(v, dict):
        yield where, path, v
        for k, x in v.items():
            yield from objects(x, "%s.%s" % (where, k), path + (k,))
    elif isinstance(v, list):
        for i, x in enumerate(v):
            yield from objects(x, "%s[%d]" % (where, i), path + (i,))


def without(doc, path, key):
    doc = copy.deepcopy(doc)
    o = doc
    for k in path:
        o = o[k]
    del o[key]
    return doc


def meta(schema, name, refs):
    """A property neither required nor x-optional (or the reverse)."""
    errs = []
    if isinstance(schema, dict):
        if isinstance(schema.get("$ref"), str):
            refs.add(schema["$ref"])
        props = set(schema.get("properties", {}))
        told = set(schema.get("required", [])) | set(schema.get("x-optional", []))
        if props != told:
            errs.append("%s: properties %s but required + x-optional %s" % (name, sorted(props), sorted(told)))
        for k, x in schema.items():
            if k == "properties":
                for p in x.values():
                    errs += meta(p, name, refs)
            elif isinstance(x, (dict, list)) and k not in ("required", "x-optional", "enum"):
                errs += meta(x, name, refs)
    elif isinstance(schema, list):
        for x in schema:
            errs += meta(x, name, refs)
    return errs


def example_errors(doc, name, base, here):
    schema, trace = load(os.path.join(base, name + ".json")), {}
    errs = ["%s: %s" % (here, e) for e in check(schema, doc, "$", base, trace=trace)]
    for where, path, o in [] if errs else objects(doc):
        s = trace.get(where)
        for k in o if s else []:
            if k not in s["properties"]:
                errs.append("%s: %s.%s is not in the schema" % (here, where, k))
            elif k not in s.get("x-optional", []) and not check(schema, without(doc, path, k), "$", base):
                errs.append("%s: the schema does not require %s.%s" % (here, where, k))
    return errs


def main(md, base):
    errs, used, refs = [], set(), set()
    text = open(md).read()
    for m in re.finditer(r"(?:<!-- schema: ([a-z0-9 -]+) -->\n)?```json\n(.*?)```", text, re.S):
        line = text.count("\n", 0, m.start()) + 1
        if not m.group(1):
            errs.append("%s:%d: a json block without <!-- schema: NAME -->" % (md, line))
            continue
        names, body, docs, pos = m.group(1).split(), m.group(2), [], 0
        while body[pos:].strip():
            pos += len(body[pos:]) - len(body[pos:].lstrip())
            doc, pos = json.JSONDecoder().raw_decode(body, pos)
            docs.append(doc)
        if len(names) not in (1, len(docs)):
            errs.append("%s:%d: %d schemas for %d documents" % (md, line, len(names), len(docs)))
            continue
        for i, doc in enumerate(docs):
            name = names[min(i, len(names) - 1)]
            used.add(name + ".json")
            errs += example_errors(doc, name, base, "%s:%d (%s)" % (md, line, name))
    files = sorted(f for f in os.listdir(base) if f.endswith(".json"))
    for f in files:
        errs += meta(load(os.path.join(base, f)), f, refs)
    errs += ["%s: no example of %s uses it" % (f, md) for f in files if f not in used | refs]
    for e in errs:
        print("json_docs_check: " + e, file=sys.stderr)
    return 1 if errs else 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2]))
