"""Delivery figures from the release history: `figures` computes them (pure), `html_report`
writes the self-contained report, `job_summary` the GitHub job summary's figures and chart."""
