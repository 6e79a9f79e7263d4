"""The GitHub Actions side as tests drive it: the composite-step runner, GitHub's expression
engine, the gates and run model of the workflows."""
