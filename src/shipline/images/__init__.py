"""Images: what the build pushes, the registries it goes to, and what they hold."""
