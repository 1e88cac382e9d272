"""The subcommands of `camapp` (camapp/cli.py parses the arguments and maps errors to exit codes): `run` and
`replay` run the appliance's wiring (run.py); the one-shot tools (tools.py) check, inspect and set up."""
