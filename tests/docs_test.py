#!/usr/bin/python3
"""docs.claims: the docs' shell blocks run, and the figures the text around them states are the
figures the run gives.

Every ```sh block of README.md and docs/*.md is either run here (RUNS, keyed by its text) or marked
on the line above it `<!-- not run here: why -->` (the setup and build commands this suite is run
by, the cluster recipes that tests/cluster_test.sh runs); a block that is neither fails the test.
A figure stated in prose is found by its sentence (the text between the figures must match) and
compared with the run's at the precision written: 0.776 states a value in [0.7755, 0.7765].

Bound, for figures made on another machine: the MLP's accuracies are counts of rows (equal on every
machine: the batched engine gives the same bits on AVX2 and AVX-512), and the factorisation's loss
differs between OpenBLAS kernels by under 1e-10 relative, far below the digits written. A figure
within 1e-9 of a rounding boundary is accepted on either side.

Usage: docs_test.py --labrun BIN --root SOURCE_DIR --workdir DIR
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from script_checks import require_modules  # noqa: E402

NOT_RUN = re.compile(r"<!-- not run here: .+ -->")
NUMBER = r"(-?[0-9]+(?:\.[0-9]+)?)"


class Docs:
    def __init__(self, args):
        self.args = args
        self.failures = []
        self.bin = os.path.join(args.workdir, "bin")
        os.makedirs(self.bin, exist_ok=True)
        link = os.path.join(self.bin, "labrun")
        if os.path.lexists(link):
            os.unlink(link)
        os.symlink(args.labrun, link)
        self.text = {}

    def check(self, name, ok, detail=""):
        print(f"{'ok  ' if ok else 'FAIL'} {name} {detail}")
        if not ok:
            self.failures.append(name)

    def read(self, doc):
        if doc not in self.text:
            with open(os.path.join(self.args.root, doc), encoding="utf-8") as f:
                self.text[doc] = f.read()
        return self.text[doc]

    def blocks(self, doc):
        """(line, block text, marked not run, the text after the block) of each ```sh block."""
        lines = self.read(doc).split("\n")
        found = []
        i = 0
        while i < len(lines):
            if lines[i].strip() == "```sh":
                end = lines.index("```", i + 1)
                marked = i > 0 and NOT_RUN.fullmatch(lines[i - 1].strip()) is not None
                found.append((i + 1, "\n".join(lines[i + 1:end]), marked, "\n".join(lines[end + 1:])))
                i = end
            i += 1
        return found

    def run(self, block):
        """Runs a block as a user would from the source folder: build/release/labrun and scripts/
        are this build's and this tree's (data/iris.data too); `labrun` is on PATH. Files land in the
        work folder."""
        script = block.replace("build/release/labrun", self.args.labrun)
        script = re.sub(r"(?<![\w/.])scripts/", os.path.join(self.args.root, "scripts") + "/", script)
        script = re.sub(r"(?<![\w/.])data/iris\.data", os.path.join(self.args.root, "data", "iris.data"), script)
        env = dict(os.environ, PATH=self.bin + os.pathsep + os.environ.get("PATH", ""))
        os.makedirs(os.path.join(self.args.workdir, "docs"), exist_ok=True)
        for name in ("study.jsonl", "worked.jsonl"):  # a study is never overwritten: start afresh
            path = os.path.join(self.args.workdir, name)
            if os.path.exists(path) and f"-o {name}" in block:
                os.unlink(path)
        done = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script], cwd=self.args.workdir, env=env,
                              capture_output=True, text=True)
        self.check(f"runs: {block.splitlines()[0][:90]}", done.returncode == 0,
                   "" if done.returncode == 0 else f"exit {done.returncode}: {done.stderr.strip()[-300:]}")
        return done

    def stated(self, doc, sentence):
        """The figures a sentence of `doc` states: `sentence` with {} where each figure stands,
        matched across line breaks. Fails the test (returning None) when the sentence is gone."""
        parts = [re.escape(p).replace("\\ ", r"\s+") for p in sentence.split("{}")]
        pattern = NUMBER.join(parts)
        match = re.search(pattern, self.read(doc))
        self.check(f"{doc} says: {sentence}", match is not None, "(sentence not found)" if match is None else "")
        return match.groups() if match else None

    def agree(self, doc, sentence, *computed):
        """Each figure the sentence states agrees with the computed value at its written precision."""
        figures = self.stated(doc, sentence)
        if figures is None:
            return
        for text, value in zip(figures, computed):
            self.check(f"  {text} stated, {value:.6g} computed", written_as(text, value))


def written_as(text, value):
    decimals = len(text.split(".")[1]) if "." in text else 0
    return abs(float(text) - value) <= 0.5 * 10 ** -decimals + 1e-9


def numbers_agree(expected_text, actual_text, skip_column=None):
    """Line by line, word by word: words equal, numbers equal at the expected text's precision.
    `skip_column`: a header word whose column holds a timing, not compared."""
    expected, actual = expected_text.strip().splitlines(), actual_text.strip().splitlines()
    if len(expected) != len(actual):
        return False, f"{len(expected)} lines written, {len(actual)} printed"
    skip = None
    for e, a in zip(expected, actual):
        ew, aw = e.split(), a.split()
        if skip_column in ew:
            skip = ew.index(skip_column) + 1  # data rows have a two-word label
        if len(ew) != len(aw):
            return False, f"{e!r} against {a!r}"
        for i, (x, y) in enumerate(zip(ew, aw)):
            if skip is not None and i == skip and re.fullmatch(NUMBER, x) and len(ew) > 2:
                continue
            if re.fullmatch(NUMBER + ",?", x) and re.fullmatch(NUMBER + ",?", y):
                if not written_as(x.rstrip(","), float(y.rstrip(","))):
                    return False, f"{x} written, {y} printed in {a!r}"
            elif x != y:
                return False, f"{x!r} written, {y!r} printed"
    return True, ""


def fenced_after(text):
    """The first plain ``` block after a shell block (what the docs show it prints)."""
    match = re.search(r"^```\n(.*?)\n```$", text, re.S | re.M)
    return match.group(1) if match else ""


def summaries(path):
    with open(path) as f:
        lines = [json.loads(line) for line in f]
    return {(s["key"], s["epochs"]): s for s in lines if s["type"] == "summary"}


def json_of(docs, args):
    done = subprocess.run([docs.args.labrun] + args, capture_output=True, text=True)
    docs.check(f"labrun {' '.join(args)}", done.returncode == 0, done.stderr.strip()[-300:])
    return json.loads(done.stdout)["results"] if done.returncode == 0 else None


def readme_factorise(docs, doc, result, after):
    ok, why = numbers_agree(fenced_after(after), result.stdout, skip_column="seconds")
    docs.check(f"{doc}: factorise prints what the README shows", ok, why)


def readme_mlp(docs, doc, result, after):
    row = re.search(r"^val_accuracy\s+(.*)$", result.stdout, re.M).group(1).split()
    mean, std, low, _, high = (float(v) for v in row)
    docs.agree(doc, "the validation accuracy ranges from {} to {} (mean {}, std {})", low, high, mean, std)


def npy_labels(docs, doc, result, after):
    """A .npy file and its labels train the models the CSV trains: the same table but its title."""
    csv = subprocess.run([docs.args.labrun, "mlp", "--seed", "0", "--repeats", "5", "--format", "text"],
                         capture_output=True, text=True).stdout
    def table(text):  # but the title and the seconds taken
        return [re.sub(r"[0-9.]+ s\)", "s)", line) for line in text.splitlines()[1:]]
    docs.check(f"{doc}: the .npy data and its labels file train the CSV's models",
               table(result.stdout) == table(csv) and "iris.npy" in result.stdout.splitlines()[0])


def picture_written(name):
    def check(docs, doc, result, after):
        path = os.path.join(docs.args.workdir, name)
        docs.check(f"{doc}: writes {name}", os.path.getsize(path) > 1000 if os.path.exists(path) else False)
    return check


def readme_study(docs, doc, result, after):
    s = summaries(os.path.join(docs.args.workdir, "study.jsonl"))
    docs.agree(doc, "(std {} at 100 epochs and lr 0.01, {} at 3000 epochs and lr 1)",
               s[("lr=0.01", 100)]["val_accuracy"]["std"], s[("lr=1", 3000)]["val_accuracy"]["std"])
    picture_written("study.png")(docs, doc, result, after)
    done = subprocess.run([docs.args.labrun, "compare", os.path.join(docs.args.workdir, "study.jsonl"), "--baseline",
                           "lr=0.1"], capture_output=True, text=True)
    pair = next(c for c in json.loads(done.stdout)["comparisons"] if c["setting"] == "lr=1")
    docs.agree(doc, "lr 1 against lr 0.1 at 3000 epochs ({}, bootstrap interval {} to {}), is won by the better "
               "setting in only {}% of seeds", pair["difference"], pair["difference_ci95"][0],
               pair["difference_ci95"][1], 100 * pair["p_better"])


def studies_plan(docs, doc, result, after):
    docs.check(f"{doc}: the plan line is the one shown", result.stderr.strip() == fenced_after(after).strip(),
               result.stderr.strip())


def studies_worked(docs, doc, result, after):
    table = "\n".join(line for line in result.stderr.splitlines() if not line.startswith("labrun: sweep"))
    ok, why = numbers_agree(fenced_after(after), table)
    docs.check(f"{doc}: the worked study's table is what --summary prints", ok, why)
    s = summaries(os.path.join(docs.args.workdir, "worked.jsonl"))
    std = {key: value["val_accuracy"]["std"] for key, value in s.items()}
    stated = docs.stated(doc, "standard deviation over seeds is {}; with 30 times the epochs, or 10 times the "
                         "learning rate, it falls below {}; at lr 1 and 3000 epochs it is {},")
    if stated:
        docs.check(f"  {stated[0]} stated, {std[('lr=0.01', 100)]:.4f} computed", written_as(stated[0], std[("lr=0.01", 100)]))
        longer = max(std[("lr=0.01", 3000)], std[("lr=0.1", 100)])
        docs.check(f"  below {stated[1]} stated, {longer:.4f} computed", longer < float(stated[1]))
        docs.check(f"  {stated[2]} stated, {std[('lr=1', 3000)]:.4f} computed", written_as(stated[2], std[("lr=1", 3000)]))


def studies_compare(docs, doc, result, after):
    ok, why = numbers_agree(fenced_after(after), result.stdout)
    docs.check(f"{doc}: compare prints the table shown", ok, why)
    import numpy
    with open(os.path.join(docs.args.workdir, "worked.jsonl")) as f:
        lines = [json.loads(line) for line in f]

    def figure(key):
        return numpy.array([next(p for p in line["checkpoints"] if p["epochs"] == 3000)["val_accuracy"]
                            for line in lines if line["type"] == "run" and line["key"] == key])
    x, y = figure("lr=1"), figure("lr=0.1")
    d = x - y
    docs.agree(doc, "Even lr 1 against lr 0.1, {} apart", float(d.mean()))
    docs.agree(doc, "But P(better) is {}:", float(numpy.mean((d > 0) + 0.5 * (d == 0))))
    docs.agree(doc, "(the paired differences' std is {}, against {} and {} for the settings themselves)",
               float(d.std(ddof=1)), float(x.std(ddof=1)), float(y.std(ddof=1)))
    # Seeds per setting for a paired difference of 0.01 at 80% power and a 5% two-sided level:
    # ((z_0.975 + z_0.8) sd_d / 0.01)^2.
    docs.agree(doc, "takes about {} seeds per setting", ((1.959964 + 0.841621) * float(d.std(ddof=1)) / 0.01) ** 2)


# The shell blocks run here, by their text; each check reads what the text around the block says.
RUNS = {
    "build/release/labrun factorise --seed 0 --rank 2 --format text": readme_factorise,
    "build/release/labrun pca --seed 0 | scripts/plot_pca.py - -o pca.png": picture_written("pca.png"),
    "build/release/labrun mlp --seed 0 --repeats 1000 --format text": readme_mlp,
    "build/release/labrun all --seed 0 | scripts/report.py - -o report.pdf": picture_written("report.pdf"),
    "build/release/labrun sweep mlp --lr 0.01,0.1,1 --epochs 100,300,1000,3000 --repeats 200 --seed 2026 "
    "-o study.jsonl\nscripts/plot_study.py study.jsonl -o study.png": readme_study,
    "labrun sweep mlp --lr 0.01,0.1,1 --epochs 100,1000,200 --repeats 200 --seed 1 -o study.jsonl": studies_plan,
    "labrun sweep mlp --lr 0.01,0.1,1 --epochs 100,300,1000,3000 --repeats 200 --seed 2026 -o worked.jsonl "
    "--summary\nscripts/plot_study.py worked.jsonl -o docs/study.png": studies_worked,
    "labrun compare worked.jsonl --format text": studies_compare,
    "/usr/bin/python3 -c 'import numpy as np; d = np.loadtxt(\"data/iris.data\", delimiter=\",\", dtype=str); "
    "np.save(\"iris.npy\", d[:, :4].astype(float)); np.save(\"y.npy\", np.unique(d[:, 4], return_inverse=True)[1])'\n"
    "build/release/labrun mlp --data iris.npy --labels y.npy --seed 0 --repeats 5 --format text": npy_labels,
}


def repeat_study(docs):
    """docs/commands.md's repeat study (question 2.2): every figure from the runs it names."""
    doc = "docs/commands.md"
    runs = json_of(docs, ["mlp", "--seed", "0", "--repeats", "1000"])
    if runs is None:
        return
    val = [r["val_accuracy"] for r in runs["runs"]]
    train = [r["train_accuracy"] for r in runs["runs"]]
    n = len(val)
    v, t = runs["summary"]["val_accuracy"], runs["summary"]["train_accuracy"]
    docs.agree(doc, "validation accuracy mean {}, std {}, median {}, from {} to {}; training accuracy mean {}, "
               "std {}, from {} to {}.", v["mean"], v["std"], v["median"], v["min"], v["max"], t["mean"], t["std"],
               t["min"], t["max"])
    docs.agree(doc, "One run in five ({}%) ends at or below 0.70 on the validation rows ({}% below it), {}% below 0.50",
               100 * sum(a <= 0.70 + 1e-9 for a in val) / n, 100 * sum(a < 0.70 - 1e-9 for a in val) / n,
               100 * sum(a < 0.50 - 1e-9 for a in val) / n)
    docs.check("  none reaches 0.90 on the training rows", max(train) < 0.90 - 1e-9, f"max {max(train)}")
    import numpy
    docs.agree(doc, "move together across runs (correlation {})", float(numpy.corrcoef(train, val)[0, 1]))
    longer = json_of(docs, ["mlp", "--seed", "0", "--repeats", "200", "--epochs", "1000"])
    if longer:
        s = longer["summary"]["val_accuracy"]
        docs.agree(doc, "(200 repeats, seed 0) validation accuracy has mean {}, std {}, median {}.", s["mean"],
                   s["std"], s["median"])
    std = json_of(docs, ["mlp", "--seed", "0", "--repeats", "1000", "--normalise", "std"])
    if std:
        s = std["summary"]["val_accuracy"]
        docs.agree(doc, "(`--normalise std`, 1000 repeats, seed 0: mean {}, std {})", s["mean"], s["std"])


def split_study(docs):
    """docs/studies.md: one shuffle for every run against a shuffle per run."""
    doc = "docs/studies.md"
    path = os.path.join(docs.args.workdir, "split.jsonl")
    if os.path.exists(path):
        os.unlink(path)
    subprocess.run([docs.args.labrun, "sweep", "mlp", "--lr", "0.1", "--epochs", "1000", "--shuffle", "once,per-repeat",
                    "--repeats", "500", "--seed", "2026", "-o", path], capture_output=True, check=True)
    s = summaries(path)
    once, per_repeat = s[("shuffle=once", 1000)]["val_accuracy"]["std"], s[("shuffle=per-repeat", 1000)]["val_accuracy"]["std"]
    docs.agree(doc, "(`--shuffle once,per-repeat --repeats 500 --seed 2026`): std {} against {}", once, per_repeat)
    docs.agree(doc, "the split alone adds a spread of {}", (per_repeat ** 2 - once ** 2) ** 0.5)


def warnings_stated(docs):
    """docs/commands.md: the figures its warnings' paragraphs state, from the runs they describe."""
    doc = "docs/commands.md"
    err = subprocess.run([docs.args.labrun, "mlp", "--lr", "1e-12", "--seed", "0", "--repeats", "2"],
                         capture_output=True, text=True).stderr
    lost = re.search(r"lr 1e-12, ([0-9]+)% of the first update", err)
    docs.check("mlp --lr 1e-12 says the share of its first update it loses", lost is not None, err.strip()[-200:])
    if lost:
        docs.agree(doc, "measured on repeat 0's first step ({}% at `--lr 1e-12`, seed 0;", float(lost.group(1)))
    iris = json_of(docs, ["factorise", "--seed", "0"])
    s1 = iris["svd"]["singular_values"][0]
    start = lambda rows: 0.5 * (rows * 2) ** 0.5 + 0.29 * (rows ** 0.5 + 2 ** 0.5)  # 2 the rank
    lr = 1 / max(4 * s1, 2 * (start(150) ** 2 + start(4) ** 2))
    docs.agree(doc, "It is safe, not tight: {} for Iris, whose exercise lr 0.01 also converges.", lr)
    err = subprocess.run([docs.args.labrun, "factorise", "--seed", "0", "--lr", "0.03"], capture_output=True,
                         text=True).stderr
    docs.check("factorise --lr 0.03 names that lr", f"--lr {lr:.2g} is stable on this data" in err, err[-200:])


HELP_OPTION = re.compile(r"^  (?:-\w,)?(--[\w-]+)(?: (\S+))?", re.M)
TABLE_ROW = re.compile(r"^\| (`-(?:[^|\\]|\\.)*`) \| ?((?:[^|\\]|\\.)*?) ?\|", re.M)  # \| is a cell's |


def help_options(docs, command):
    """{option: default or None} from `labrun COMMAND --help` (its option lines, not the wrapped
    descriptions under them)."""
    done = subprocess.run([docs.args.labrun] + command.split() + ["--help"], capture_output=True, text=True,
                          env=dict(os.environ, COLUMNS="200"))
    options = {}
    for name, kind in HELP_OPTION.findall(done.stdout):
        if name != "--help":
            options[name] = kind.rsplit("=", 1)[1] if "=" in kind else None
    return options


def section(docs, doc, heading):
    text = docs.read(doc)
    start = text.index(heading)
    end = text.find("\n## ", start + len(heading))
    return text[start:end if end >= 0 else len(text)]


def table_options(text):
    """{option: default cell} of an options table; a row may name several options."""
    options = {}
    for names, default in TABLE_ROW.findall(text):
        for name in re.findall(r"`(?:-\w, )?(--[\w-]+)", names):
            options[name] = default.strip().strip("`")
    return options


def help_and_docs(docs):
    """Each command's --help and its part of the docs name the same options with the same defaults:
    the table of its section, or factorise's for the options every command shares."""
    doc = "docs/commands.md"
    common = table_options(section(docs, doc, "## `labrun factorise`"))
    for command in ("factorise", "mlp"):
        helped = help_options(docs, command)
        written = table_options(section(docs, doc, f"## `labrun {command}`"))
        for name, default in helped.items():
            cell = written.get(name, common.get(name))
            docs.check(f"labrun {command} {name}: in {doc}", cell is not None)
            if cell is not None and default is not None and name in written and written[name]:
                docs.check(f"  default {default} in --help and in the table", cell == default, f"table: {cell}")
        top = help_options(docs, "")  # --config and --version come before the subcommand
        for name in written:
            docs.check(f"{doc} names {name} for {command}: in --help", name in helped or name in top)
    docs.check("pca takes every option of factorise (commands.md)",
               help_options(docs, "pca").keys() == help_options(docs, "factorise").keys())
    prefixed = docs.stated(doc, "names both parts use prefixed per part: `--factorise-epochs`, `--factorise-lr`,")
    factorise, mlp, everything = (help_options(docs, c) for c in ("factorise", "mlp", "all"))
    if prefixed is not None:
        shared = {"--epochs", "--lr", "--loss-every"}
        expected = (factorise.keys() | mlp.keys()) - shared
        expected |= {f"--{part}-{name[2:]}" for part in ("factorise", "mlp") for name in shared}
        expected |= {"--loss-every"}
        # Both parts scale their columns, each its own way: the MLP's keeps the plain name.
        if docs.stated(doc, "`--normalise` is the MLP's (the exercise's `var`) and `--factorise-normalise`") is not None:
            expected |= {"--factorise-normalise"}
        docs.check("all's options: the parts', the shared names prefixed (commands.md)",
                   everything.keys() == expected, str(everything.keys() ^ expected))
    # The fields the help names are the document's.
    tiny = json_of(docs, ["all", "--seed", "0", "--repeats", "2", "--mlp-epochs", "2", "--factorise-epochs", "2"])
    for command in ("", "all"):
        text = subprocess.run([docs.args.labrun] + command.split() + ["--help"], capture_output=True, text=True).stdout
        for field in sorted(set(re.findall(r"results\.(\w+)", text))):
            docs.check(f"labrun {command} --help names results.{field}: in all's output", tiny is not None and field in tiny)
    studies = section(docs, "docs/studies.md", "## The command line")
    for command in ("sweep mlp", "sweep factorise", "merge", "compare", "summary"):  # noqa: the studies' commands
        text = studies if command.startswith("sweep") else docs.read("docs/studies.md")
        for name, default in help_options(docs, command).items():
            spelled = "`-o" if name == "--output" else f"`{name}"
            docs.check(f"labrun {command} {name}: in docs/studies.md", spelled in text)
    for command, default in (("sweep mlp", "--repeats` (200)"), ("sweep factorise", "--repeats` (20)")):
        helped = help_options(docs, command)["--repeats"]
        docs.check(f"labrun {command} --repeats={helped} as docs/studies.md says", default == f"--repeats` ({helped})")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--labrun", required=True)
    parser.add_argument("--root", required=True)
    parser.add_argument("--workdir", required=True)
    args = parser.parse_args()
    require_modules("docs_test.py", "numpy", "matplotlib")
    os.makedirs(args.workdir, exist_ok=True)
    docs = Docs(args)
    names = ["README.md"] + sorted("docs/" + f for f in os.listdir(os.path.join(args.root, "docs")) if f.endswith(".md"))
    seen = set()
    for doc in names:
        for line, block, marked, after in docs.blocks(doc):
            if marked:
                print(f"--   {doc}:{line}: marked not run here")
                continue
            check = RUNS.get(block.strip())
            docs.check(f"{doc}:{line}: a shell block the docs test runs", check is not None,
                       "" if check else "(add it to RUNS in tests/docs_test.py, or mark it <!-- not run here: why -->)")
            if check is not None:
                seen.add(block.strip())
                check(docs, doc, docs.run(block), after)
    docs.check("every block RUNS knows is in the docs", seen == set(RUNS), str(set(RUNS) - seen))
    help_and_docs(docs)
    repeat_study(docs)
    split_study(docs)
    warnings_stated(docs)
    shutil.rmtree(docs.bin, ignore_errors=True)
    print(f"{len(docs.failures)} failed")
    return 1 if docs.failures else 0


if __name__ == "__main__":
    sys.exit(main())
