"""`modelgate rotate-master-key`: re-seal every stored credential under a new master key.

Safe while the cluster serves (predicts go on; see common/key_rotation.py) and safe to run
again after a crash: the second run finishes what the first began. Prints key ids, never keys.
"""

from __future__ import annotations

import argparse

import redis

from common.errors import MLCommonsError
from common.key_rotation import Rotation, RotationReport
from common.keyring import ENV_NAME, KeyFile, KeySource, key_source, open_ring
from common.settings import Settings
from common.store import open_store
from tools.arguments import non_negative_float

ENV_HOWTO = (
    f"to rotate with {ENV_NAME}: put a new key (openssl rand -base64 32) first and the current "
    "one after it, comma-separated, in every process of the cluster, restart them, then run "
    "this again"
)


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """The rotation's flags."""
    parser.add_argument(
        "--settle-seconds",
        type=non_negative_float,
        default=2.0,
        help="wait after switching the cluster to the new key, so that credentials being "
        "sealed under the old one at that moment are stored before the re-sealing pass",
    )
    parser.add_argument(
        "--add-key-only",
        action="store_true",
        help="only add a new key to the key file, to copy the file to every host of the "
        "cluster before the credentials move to it; run again without this flag to finish",
    )


def main(args: argparse.Namespace) -> int:
    """Rotate, print what was done; 1 when the rotation could not finish."""
    settings = Settings.from_env()
    store = open_store(settings)
    source = key_source(settings)
    try:
        open_ring(source, store.master_key)  # an older cluster's key moves out of Redis first
        rotation = Rotation(store, source, settle_s=args.settle_seconds)
        if args.add_key_only:
            return _add_key(rotation, source)
        report = rotation.run()
    except MLCommonsError as error:
        print(f"modelgate rotate-master-key: {error.reason}", flush=True)
        return 1
    except redis.RedisError as error:
        print(f"modelgate rotate-master-key: Redis: {error}; run it again to finish", flush=True)
        return 1
    _describe(report, isinstance(source, KeyFile))
    return 0


def _add_key(rotation: Rotation, source: KeySource) -> int:
    if not isinstance(source, KeyFile):
        print(f"modelgate rotate-master-key: --add-key-only needs a key file, not {ENV_NAME}")
        return 2
    kid = rotation.add_key()
    print(
        f"{source.where} now holds master key {kid} too: copy it to every host of the cluster, "
        "then run `modelgate rotate-master-key` to move the credentials to it",
        flush=True,
    )
    return 0


def _describe(report: RotationReport, in_file: bool) -> None:
    print(f"re-sealed {len(report.resealed)} records under master key {report.key_id}", flush=True)
    if in_file and report.dropped:
        print(f"removed old master key(s) {', '.join(report.dropped)} from the key file")
    elif not in_file and report.unused:
        print(
            f"no record uses master key(s) {', '.join(report.unused)} any more: remove them "
            f"from {ENV_NAME} in every process"
        )
    elif not in_file:
        print(f"every credential is under master key {report.key_id}; {ENV_HOWTO}")
