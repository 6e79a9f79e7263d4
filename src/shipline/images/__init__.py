"""Images: what the build pushes, the registries it goes to, and what they hold.

- `reference`: the image reference grammar (repository paths, tags, digests) and registry hosts
- `build`: the build plan (repositories, build matrix, how each registry is logged in to)
- `repositories`: ECR repositories for the plan (`images ensure-repos`)
- `oci`: the OCI distribution client (GHCR, Docker Hub, self-hosted), its credentials
- `ecr`: ECR look-ups and tags (DescribeImages, PutImage)
- `resolve`: `KEY=REF` tags to digests across registries (`images resolve`, deploy's pinning)
- `retag`: reuse an image already in ECR under more tags (`images retag`)
- `copy`: an image to another registry or repository by digest (`images copy`)
"""
