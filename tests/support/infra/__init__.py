"""The Terraform blueprint as tests read it: its rules, a renderer, its outputs, the provider
schema."""
