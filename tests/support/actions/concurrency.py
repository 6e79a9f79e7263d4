"""GitHub's concurrency groups, as documented: one running and at most ONE pending run per group.

GitHub's documentation (Control the concurrency of workflows and jobs): "When a concurrent job
or workflow is queued, if another job or workflow run using the same concurrency group in the
repository is in progress, the queued job or workflow run will be pending. Any existing pending
job or workflow run in the same concurrency group, if it exists, will be canceled and the new
queued job or workflow will take its place." `cancel-in-progress: true` cancels the running one
too. A job or run without a group waits for nobody. (shared/reference/github-runtime.md)
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Groups:
    running: dict[str, str] = field(default_factory=dict)  # group -> entry
    pending: dict[str, str] = field(default_factory=dict)  # group -> entry
    started: list[str] = field(default_factory=list)  # in the order they started
    cancelled: list[str] = field(default_factory=list)

    def queue(self, entry: str, group: str | None, cancel_in_progress: bool = False) -> None:
        if not group:
            self.started.append(entry)
            return
        if group in self.running and cancel_in_progress:
            self.cancelled.append(self.running.pop(group))
        if group not in self.running:
            self.running[group] = entry
            self.started.append(entry)
            return
        if group in self.pending:
            self.cancelled.append(self.pending.pop(group))
        self.pending[group] = entry

    def finish(self, entry: str) -> None:
        for group, running in list(self.running.items()):
            if running == entry:
                del self.running[group]
                if group in self.pending:
                    self.running[group] = self.pending.pop(group)
                    self.started.append(self.running[group])
                return
        if entry not in self.started:
            raise ValueError(f"{entry} is not running")
