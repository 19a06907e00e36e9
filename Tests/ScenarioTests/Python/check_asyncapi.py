"""Checks an AsyncAPI document: against the AsyncAPI 3.0.0 JSON Schema that the AsyncAPI
initiative publishes (asyncapi-3.0.0.json beside this file, from github.com/asyncapi/spec-json-schemas
6.11.1, Apache License 2.0), and that every "$ref" in it points at something in it.

Usage: check_asyncapi.py DOCUMENT; prints each problem, exits 1 when there is one.
"""
import json
import os
import sys

from jsonschema import Draft7Validator

here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "asyncapi-3.0.0.json")) as source:
    schema = json.load(source)
with open(sys.argv[1]) as source:
    document = json.load(source)

problems = [f"{'/'.join(map(str, error.absolute_path))}: {error.message[:300]}" for error in Draft7Validator(schema).iter_errors(document)]


def resolve(pointer):
    node = document
    for part in pointer.lstrip("#/").split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def walk(node, path):
    if isinstance(node, dict):
        reference = node.get("$ref")
        if isinstance(reference, str) and not resolve(reference):
            problems.append(f"{path}: $ref {reference} points at nothing")
        for key, value in node.items():
            walk(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            walk(value, f"{path}/{index}")


walk(document, "")
for problem in problems:
    print(problem)
sys.exit(1 if problems else 0)
