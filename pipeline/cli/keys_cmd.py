"""`ordervault keys init | status | rotate-root`: the root key and the key store."""

from __future__ import annotations

import getpass
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

from crypto import (
    AwsKmsRootKey,
    RotationReport,
    discard_retired_local_root_keys,
    finish_root_rotations,
    init_local_root_key,
    load_local_root_keyring,
    rotate_root,
    stage_local_root_rotation,
)
from pipeline.cli.app import app, console, err_console, state
from pipeline.runtime import Runtime, root_key
from pipeline.settings import Settings
from storage import audit, create_engine, session_factory, write_session
from storage.keystore import SqlKeyStore

keys_app = typer.Typer(help="Root key and key store.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@keys_app.command("init")
def init(ctx: typer.Context) -> None:
    """Create the local root key file (mode 0600); refuses to overwrite one."""
    kms = state(ctx).load().settings.kms
    if kms.provider != "local":
        root = root_key(kms)
        console.print(f"root key is held by {kms.provider} ({root!r}); nothing to create here")
        return
    key = init_local_root_key(kms.key_file)
    console.print(f"created root key {key.root_key_id} at {kms.key_file} (mode 0600)")


@keys_app.command("status")
def status(ctx: typer.Context) -> None:
    """Per client: active and destroyed bucket keys, next destruction day; the root provider."""
    config = state(ctx).load()
    with Runtime.open(config) as runtime:
        kms = config.settings.kms
        root = root_key(kms)
        console.print(f"root key provider [bold]{kms.provider}[/]: {root!r}")
        table = Table(title="bucket keys", title_justify="left")
        for column in ("client", "active", "destroyed", "next destruction (UTC day start)"):
            table.add_column(column)
        for client_id in config.clients:
            key_status = runtime.vault.key_status(client_id)
            table.add_row(
                client_id,
                str(key_status.active_buckets),
                str(key_status.destroyed_buckets),
                str(key_status.next_destruction_day or "-"),
            )
        console.print(table)


@keys_app.command("rotate-root")
def rotate(
    ctx: typer.Context,
    to_key_id: Annotated[
        str | None,
        typer.Option(help="aws-kms: the new KMS key to rewrap under (then put it in the config)."),
    ] = None,
) -> None:
    """Rewrap every bucket and index key under a new root key; resumable if interrupted.

    Data keys and ciphertext are not touched. With the local provider a new key file replaces
    the old one, which is kept until nothing needs it and then overwritten and deleted.
    """
    settings = state(ctx).load().settings
    engine = create_engine(settings.keystore.url, keystore=True)
    keystore = SqlKeyStore(engine)
    try:
        if settings.kms.provider == "local":
            path = settings.kms.key_file
            reports = finish_root_rotations(keystore, load_local_root_keyring(path))
            if reports:
                console.print("finished an interrupted rotation first")
            else:
                old, new = stage_local_root_rotation(path)
                reports = finish_root_rotations(keystore, load_local_root_keyring(path))
                if not reports:
                    reports = [rotate_root(keystore, old, new)]
            discarded = discard_retired_local_root_keys(path, keystore)
        else:
            if not to_key_id:
                err_console.print("aws-kms: give --to-key-id, the KMS key to rotate to")
                raise typer.Exit(code=2)
            old_root = root_key(settings.kms)
            assert isinstance(old_root, AwsKmsRootKey)
            new_root = AwsKmsRootKey(
                to_key_id, region=settings.kms.region, endpoint_url=settings.kms.endpoint_url
            )
            reports = [rotate_root(keystore, old_root, new_root)]
            discarded = []
    finally:
        engine.dispose()
    _audit_rotation(settings, reports, discarded)
    for report in reports:
        console.print(
            f"rotation {report.rotation_id}: {report.from_root_key_id} -> {report.to_root_key_id}: "
            f"{report.bucket_keys_rewrapped} bucket and {report.index_keys_rewrapped} index "
            f"key(s) rewrapped" + (" (resumed)" if report.resumed else "")
        )
    for root_key_id in discarded:
        console.print(f"retired root key {root_key_id} overwritten and deleted")
    if settings.kms.provider != "local":
        console.print(f"now set [kms] key_id = {to_key_id!r} in {state(ctx).config_file}")


def _audit_rotation(
    settings: Settings, reports: list[RotationReport], discarded: list[str]
) -> None:
    """Key rotations go into the audit log (DPP 2.6); root key ids are fingerprints, not keys."""
    engine = create_engine(settings.database.connect_url)
    try:
        with write_session(session_factory(engine)) as session:
            for report in reports:
                audit.append(
                    session,
                    actor=operator_identity(),
                    action="root_key_rotation",
                    subject={"rotation_id": report.rotation_id},
                    details={
                        "from_root_key_id": report.from_root_key_id,
                        "to_root_key_id": report.to_root_key_id,
                        "bucket_keys_rewrapped": report.bucket_keys_rewrapped,
                        "index_keys_rewrapped": report.index_keys_rewrapped,
                        "resumed": report.resumed,
                        "retired_keys_discarded": discarded,
                    },
                    now=datetime.now(UTC),
                )
    finally:
        engine.dispose()


def operator_identity() -> str:
    return f"operator:{getpass.getuser()}"
