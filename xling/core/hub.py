"""Models named by Hugging Face Hub id: one place that decides, before `from_pretrained`, where they load from.

`from_pretrained("org/name")` on a machine without network retries for about a minute before it
fails. `resolve_model` answers at once instead: a local folder is used as it is; a Hub id is used as
it is when the Hub is reachable; when it is not (`HF_HUB_OFFLINE` set, or a quick TCP probe of the
Hub endpoint fails; the probe runs once per process and endpoint), the id resolves to its snapshot
in the local Hugging Face cache, and a model missing from the cache is an `InputError` naming the
reason and what to do.
"""

from __future__ import annotations

import os
import re
import socket
import urllib.parse
from pathlib import Path

from xling.core.errors import InputError

DEFAULT_ENDPOINT = "https://huggingface.co"
PROBE_TIMEOUT_S = 3.0  # a reachable Hub answers a TCP connect in well under a second
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
_TRUE = {"1", "true", "yes", "on"}
# (host, port) → None when reachable, else why not; one probe per process and endpoint.
_PROBES: dict[tuple[str, int], str | None] = {}


def looks_like_hub_id(model: str) -> bool:
    """`name` or `org/name` with Hub-legal characters (a relative folder like `runs/x` also matches:
    callers check for a local folder first)."""
    return bool(_HUB_ID.match(model)) and ".." not in model


def _probe_target() -> tuple[str, int, str]:
    """Host and port a Hub request connects to first: the HTTPS proxy when one is set, else the endpoint."""
    endpoint = os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT
    proxy = os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy")
    url = urllib.parse.urlparse(proxy or endpoint)
    port = url.port or (443 if url.scheme == "https" else 80)
    return url.hostname or "", port, f"proxy {proxy}" if proxy else endpoint


def hub_unreachable_reason(timeout: float | None = None) -> str | None:
    """None when the Hub can be asked; else why not (`HF_HUB_OFFLINE`, or the failed probe)."""
    flag = os.environ.get("HF_HUB_OFFLINE", "")
    if flag.strip().lower() in _TRUE:
        return f"HF_HUB_OFFLINE={flag}"
    host, port, label = _probe_target()
    key = (host, port)
    if key not in _PROBES:
        wait = timeout if timeout is not None else float(os.environ.get("XLING_HUB_PROBE_TIMEOUT", PROBE_TIMEOUT_S))
        try:
            socket.create_connection((host, port), timeout=wait).close()
            _PROBES[key] = None
        except OSError as e:
            _PROBES[key] = f"no network: cannot connect to {label} ({host}:{port}: {e.__class__.__name__}: {e})"
    return _PROBES[key]


def cached_snapshot(model: str, cache_dir: str | os.PathLike | None = None) -> Path | None:
    """The folder of `model`'s snapshot in the local Hugging Face cache, or None."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return Path(snapshot_download(repo_id=model, local_files_only=True, cache_dir=cache_dir))
    except (LocalEntryNotFoundError, ValueError, OSError):
        return None


def resolve_model(model: str, what: str = "model", cache_dir: str | os.PathLike | None = None) -> str:
    """What to hand `from_pretrained`: a local folder, the Hub id (Hub reachable), or its cached snapshot."""
    local = Path(model).expanduser()
    if local.exists():
        return str(local)
    if not looks_like_hub_id(model):
        raise InputError(f"{what} {model}: no such folder (and not a Hugging Face Hub id)")
    reason = hub_unreachable_reason()
    if reason is None:
        return model
    snap = cached_snapshot(model, cache_dir)
    if snap is not None:
        return str(snap)
    from huggingface_hub import constants

    where = cache_dir or constants.HF_HUB_CACHE
    raise InputError(f"{what} {model}: not a local folder, and the Hugging Face Hub cannot be asked ({reason}); "
                     f"it is not in the local cache {where} either. Download it where there is network "
                     f"(`hf download {model}`, then copy the cache or the folder here) and pass the folder"
                     + (", or unset HF_HUB_OFFLINE if this machine has network." if reason.startswith("HF_HUB")
                        else "."))


def usable_length(config) -> int | None:
    """Longest input the model's position table allows (RoBERTa-style models offset positions by pad+1)."""
    n = getattr(config, "max_position_embeddings", None)
    if n is None:
        return None
    if getattr(config, "model_type", "") in ("roberta", "xlm-roberta", "camembert", "xlm-roberta-xl"):
        return n - (getattr(config, "pad_token_id", 1) or 0) - 1
    return n
