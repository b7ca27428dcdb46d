"""Policy as code: platform rules checked at synth (rules.py), and checkov as a second opinion
(checkov.py) with its one skip file (checkov_skips.yaml)."""


class PolicyViolation(Exception):
    """A stack broke a platform rule; `problems` holds one line per violation."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))
