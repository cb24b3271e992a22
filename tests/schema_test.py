#!/usr/bin/python3
"""Validates the real output of every labrun command against data/schema/labrun.schema.json
(Debian's python3-jsonschema), and checks that the schema rejects broken documents.

Usage: schema_test.py --labrun BIN --schema FILE
"""
import argparse
import copy
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from script_checks import require_modules  # noqa: E402

require_modules("schema_test", "jsonschema")
import jsonschema  # noqa: E402

RUNS = [
    ["factorise", "--seed", "0"],
    ["factorise", "--seed", "1", "--loss-every", "100", "--reduction", "mean", "--lr", "1"],
    ["factorise", "--seed", "0", "--lr", "1"],  # diverges: nulls, exit 3
    ["pca", "--seed", "0"],
    ["pca", "--seed", "0", "--lr", "1"],  # comparison null
    ["mlp", "--seed", "0"],
    ["mlp", "--seed", "1", "--repeats", "1", "--loss-every", "10", "--engine", "sequential", "--reshuffle"],
    ["mlp", "--seed", "2", "--repeats", "3", "--no-shuffle", "--normalise", "std"],
    ["all", "--seed", "0", "--repeats", "3"],
    ["all", "--seed", "0", "--repeats", "2", "--loss-every", "50", "--rank", "3"],
]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--labrun", required=True)
    parser.add_argument("--schema", required=True)
    parser.add_argument("--study-schema", required=True)
    args = parser.parse_args()
    with open(args.schema) as f:
        schema = json.load(f)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    failures = 0
    documents = {}
    for run in RUNS:
        done = subprocess.run([args.labrun] + run, capture_output=True, text=True)
        if done.returncode not in (0, 3):
            print(f"FAIL {' '.join(run)}: exit {done.returncode}: {done.stderr.strip()}")
            failures += 1
            continue
        doc = json.loads(done.stdout)
        documents.setdefault(run[0], doc)
        errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.path))
        for error in errors[:5]:
            print(f"FAIL {' '.join(run)}: {'/'.join(map(str, error.path))}: {error.message[:200]}")
        failures += bool(errors)
        print(f"{'ok  ' if not errors else 'FAIL'} {' '.join(run)} (exit {done.returncode})")

    # The schema is not vacuous: broken documents fail it.
    def broken(name, command, change):
        doc = copy.deepcopy(documents[command])
        change(doc)
        rejected = not validator.is_valid(doc)
        print(f"{'ok  ' if rejected else 'FAIL'} rejects {name}")
        return 0 if rejected else 1

    failures += broken("a missing gd loss", "factorise", lambda d: d["results"]["gd"].pop("loss"))
    failures += broken("a string loss", "factorise", lambda d: d["results"]["gd"].__setitem__("loss", "15.2"))
    failures += broken("an accuracy above 1", "mlp", lambda d: d["results"]["runs"][0].__setitem__("val_accuracy", 1.5))
    failures += broken("major version 1", "mlp", lambda d: d.__setitem__("schema_version", "1.7.0"))
    failures += broken("a pca part without its factor", "pca", lambda d: d["results"]["gd"].pop("U"))
    failures += broken("all without mlp", "all", lambda d: d["results"].pop("mlp"))
    failures += broken("an unknown command", "pca", lambda d: d.__setitem__("command", "train"))
    failures += check_studies(args)
    print(f"{failures} failed")
    return 1 if failures else 0


STUDIES = [
    ["sweep", "mlp", "--lr", "0.01,0.1,1", "--epochs", "10,50,20", "--repeats", "4", "--seed", "0"],
    ["sweep", "mlp", "--hidden", "4,12", "--shuffle", "once,per-repeat", "--repeats", "3", "--seed", "1",
     "--shard", "2/3"],
    ["sweep", "mlp", "--lr", "1e30,0.1", "--epochs", "5", "--repeats", "2", "--seed", "0"],  # diverges: nulls
    ["sweep", "factorise", "--rank", "1,2,3", "--epochs", "10,100", "--repeats", "2", "--seed", "0"],
]


def check_studies(args):
    """Every line of the sweeps' JSON Lines against the study schema, and broken lines against it."""
    with open(args.study_schema) as f:
        schema = json.load(f)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    failures = 0
    kinds = {}
    for run in STUDIES:
        done = subprocess.run([args.labrun] + run, capture_output=True, text=True)
        if done.returncode != 0:
            print(f"FAIL {' '.join(run)}: exit {done.returncode}: {done.stderr.strip()}")
            failures += 1
            continue
        bad = 0
        for number, line in enumerate(done.stdout.splitlines(), 1):
            record = json.loads(line)
            kinds.setdefault(record["type"], record)
            for error in list(validator.iter_errors(record))[:3]:
                print(f"FAIL {' '.join(run)} line {number}: {error.message[:200]}")
                bad = 1
        failures += bad
        print(f"{'ok  ' if not bad else 'FAIL'} {' '.join(run)}")
    for kind in ("study", "process", "run", "summary", "end"):
        if kind not in kinds:
            print(f"FAIL no {kind} record seen")
            failures += 1

    def broken(name, kind, change):
        record = copy.deepcopy(kinds[kind])
        change(record)
        rejected = not validator.is_valid(record)
        print(f"{'ok  ' if rejected else 'FAIL'} rejects {name}")
        return 0 if rejected else 1

    failures += broken("a run without checkpoints", "run", lambda r: r.pop("checkpoints"))
    failures += broken("an accuracy above 1", "run", lambda r: r["checkpoints"][0].__setitem__("val_accuracy", 1.5))
    failures += broken("a summary without its quartiles", "summary", lambda r: r["val_accuracy"].pop("q1"))
    failures += broken("an unknown record", "end", lambda r: r.__setitem__("type", "fin"))
    failures += broken("a header without its plan", "study", lambda r: r.pop("plan"))
    return failures


if __name__ == "__main__":
    sys.exit(main())
