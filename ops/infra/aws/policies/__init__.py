"""checkov policies for the blueprint's own invariants (run with --external-checks-dir)."""
