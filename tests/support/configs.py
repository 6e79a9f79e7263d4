"""Small shipline.yml documents the unit tests share."""

# One environment with one service, nothing else: enough to reach AWS (or refuse before it).
ONE_SERVICE = """\
version: 1
environments:
  staging:
    region: us-east-1
    cluster: staging
    history: s3://my-releases/shipline
    services:
      api: {service: staging-api}
"""
