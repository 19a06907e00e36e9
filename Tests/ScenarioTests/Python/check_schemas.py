"""Validates event data against the node's generated JSON Schemas with the `jsonschema` library.

Reads {"schemas": {type: schema}, "cases": [{"type": ..., "data": ...}]} from the file named first and writes, for
each case in order, null when its schema accepts it, else the validator's first message, to the file named second.
"""
import json
import sys

from jsonschema import Draft202012Validator

with open(sys.argv[1]) as source:
    request = json.load(source)
validators = {}
for event_type, schema in request["schemas"].items():
    Draft202012Validator.check_schema(schema)
    validators[event_type] = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
verdicts = []
for case in request["cases"]:
    error = next(iter(validators[case["type"]].iter_errors(case["data"])), None)
    verdicts.append(None if error is None else f"{'/'.join(map(str, error.absolute_path))}: {error.message}")
with open(sys.argv[2], "w") as target:
    json.dump(verdicts, target)
