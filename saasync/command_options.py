"""Click options shared by the commands of ``saasync.cli`` and those living with their
feature (``saasync.state_commands``), so that neither imports the other."""

from __future__ import annotations

import click

config_option = click.option("--config", "config_path", type=click.Path(dir_okay=False),
                             help="TOML config file (default: the embedded sample setup).")
connection_option = click.option("--connection", "connection", help="Connection name in the config.")
workers_option = click.option(
    "--workers", type=click.IntRange(min=1), default=None,
    help="Processes, each over a share of the customers (default: one per core, up to 4, "
         "when the connector can split its read; the files connector can): for a dry run, "
         "and for a first sync of an export into the local store (any other real run "
         "writes in one process).")
