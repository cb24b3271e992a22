"""What the plotting scripts' tests share: their command line, a pass/fail tally, and the check that
bad input gives one line on stderr, exit code 1 and no output file."""
import argparse
import importlib
import os
import subprocess
import sys

# ctest's SKIP_RETURN_CODE for these tests (tests/CMakeLists.txt): a module is missing.
SKIP = 77


def require_modules(test, *names):
    """Exit with SKIP, saying which module is missing, unless every one of `names` imports."""
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError:
            print(f"{test}: skipped, {name} is missing for {sys.executable} (scripts/setup.sh --test installs it)")
            sys.exit(SKIP)


class ScriptChecks:
    def __init__(self, script):
        require_modules(os.path.basename(sys.argv[0]), "matplotlib")
        parser = argparse.ArgumentParser()
        parser.add_argument("--labrun", required=True)
        parser.add_argument("--scripts", required=True)
        parser.add_argument("--workdir", required=True)
        self.args = parser.parse_args()
        os.makedirs(self.args.workdir, exist_ok=True)
        self.script = [sys.executable, os.path.join(self.args.scripts, script)]
        self.failures = []

    def path(self, name):
        return os.path.join(self.args.workdir, name)

    def check(self, name, ok, detail=""):
        print(f"{'ok  ' if ok else 'FAIL'} {name} {detail}")
        if not ok:
            self.failures.append(name)

    def expect_error(self, name, document_text, message, output):
        """The script on a file holding document_text must fail cleanly, naming `message`."""
        bad = self.path("bad.json")
        with open(bad, "w") as f:
            f.write(document_text)
        target = self.path(output)
        done = subprocess.run(self.script + [bad, "-o", target], capture_output=True, text=True)
        lines = done.stderr.strip().splitlines()
        self.check(name, done.returncode == 1 and len(lines) == 1 and message in lines[0]
                   and not os.path.exists(target) and "Traceback" not in done.stderr,
                   f"exit {done.returncode}: {done.stderr.strip()}")

    def finish(self):
        print(f"{len(self.failures)} failed")
        return 1 if self.failures else 0
