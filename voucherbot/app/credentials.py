"""Where a store's Connectif API key comes from: its variable, or a file (for systemd
credentials and Kubernetes secrets).

In order: the variable the configuration names (``CONNECTIF_API_KEY``, or a store's
``api_key_env``); else the file named by the same variable with ``_FILE`` after it
(``CONNECTIF_API_KEY_FILE``); else the configuration's ``api_key_file``. Setting both a
variable and its ``_FILE`` twin is refused, not resolved. The file must be a regular file of
at most 4 KiB that others cannot read or write (``chmod 600`` or ``400``; its group may read
it, as Kubernetes' ``fsGroup`` does); surrounding white space (its final newline) is not part
of the key.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path

from voucherbot.config import Config
from voucherbot.errors import ConfigError, hide

MAX_KEY_FILE_BYTES = 4096


def api_key(config: Config, env: Mapping[str, str] | None = None) -> tuple[str, str]:
    """The API key and where it came from (a variable's name, or a file's path)."""
    env = os.environ if env is None else env
    name = config.api_key_env
    twin = f"{name}_FILE" if name else ""
    store = f" for store '{config.store}'" if config.store else ""
    if name and env.get(name) and env.get(twin):
        raise ConfigError(f"both {name} and {twin} are set{store}; set only one of them")
    if name and env.get(name):
        return env[name], name
    if twin and env.get(twin):
        path = Path(env[twin]).expanduser()
        return read_key_file(path, f"{twin} ({path})"), f"{twin} ({path})"
    if config.api_key_file is not None:
        return read_key_file(config.api_key_file, str(config.api_key_file)), str(
            config.api_key_file
        )
    raise ConfigError(
        f"no Connectif API key{store}: set {name or 'CONNECTIF_API_KEY'} (keyId:keySecret), "
        f"or {twin or 'CONNECTIF_API_KEY_FILE'} to a file that holds it"
    )


def read_key_file(path: Path, source: str) -> str:
    """The key in a file that only its owner (and group) can read; a ConfigError otherwise."""
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError(f"{source}: not a regular file; it must hold the API key")
        if info.st_mode & 0o027:
            raise ConfigError(
                f"{source}: others can read or anyone can write the API key file (mode "
                f"{stat.S_IMODE(info.st_mode):04o}); chmod 600 it (or 400; its group may read)"
            )
        if info.st_size > MAX_KEY_FILE_BYTES:
            raise ConfigError(f"{source}: {info.st_size:,} bytes is too large for an API key file")
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{source}: no such API key file") from None
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read the API key file: {exc.strerror}") from None
    try:
        key = data.decode("ascii").strip()
    except UnicodeDecodeError:
        raise ConfigError(f"{source}: the API key file is not plain text") from None
    if not key:
        raise ConfigError(f"{source}: the API key file is empty")
    hide(key)  # from now on no message, log line or report shows it
    return key
