"""The local AWS sandbox: moto's server plus the ECS behaviour moto lacks.

`shipline.sim.server.running_sandbox()` starts it in this process; `shipline sim` serves it
until SIGINT or SIGTERM; `shipline.sim.seed.seed_environment()` fills it with a realistic
environment. Importing this package imports nothing heavy: moto loads with `server`.
"""
