"""Policy as code: platform rules checked at synth (rules.py), and checkov as a second opinion
(checkov.py) with its one skip file (checkov_skips.yaml)."""
