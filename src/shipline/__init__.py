"""shipline: a release pipeline for web apps on AWS ECS Fargate."""

__version__ = "0.1.0"
