"""Upload a folder (a model, a data set) to the Hub through `huggingface_hub`, private unless asked otherwise.

The Hub's own error comes through (chained), with what to do about it: no token, a namespace the token may not write
to, a repository the token cannot see, no network.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

# Never uploaded with a model folder: Trainer checkpoints, the quickstart's scratch folder, TensorBoard logs.
UPLOAD_IGNORE = ("checkpoint-*/**", "work/**", "runs/**")
TOKEN_HELP = "log in with `hf auth login` or set HF_TOKEN to a token with write access (huggingface.co/settings/tokens)"


class HubPushError(ValueError):
    """The Hub refused an upload; the message says which repository, the Hub's answer, and what to do."""


def _advice(error: Exception, repo_id: str) -> str:
    from httpx2 import TransportError  # huggingface_hub's HTTP client: no connection, a timeout
    from huggingface_hub.errors import (
        HfHubHTTPError,
        LocalTokenNotFoundError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
    )

    namespace = repo_id.split("/")[0] if "/" in repo_id else None
    if isinstance(error, TransportError):
        return "the Hub could not be reached: check the network (or a proxy, HF_ENDPOINT); nothing was uploaded"
    if isinstance(error, OfflineModeIsEnabled):
        return "offline mode is on: unset HF_HUB_OFFLINE to upload"
    if isinstance(error, LocalTokenNotFoundError):
        return f"no token found: {TOKEN_HELP}"
    if isinstance(error, RepositoryNotFoundError):
        return (
            f"{repo_id} is not visible to this token (a mistyped id, or another account's private repo): check the id, "
            f"or push to a repo of your own namespace; if you are not logged in, {TOKEN_HELP}"
        )
    status = error.response.status_code if isinstance(error, HfHubHTTPError) and error.response is not None else None
    if status == 401:
        return f"the Hub did not accept the credentials: {TOKEN_HELP}"
    if status == 403:
        owner = f"namespace {namespace!r}" if namespace else "this namespace"
        return (
            f"this token may not write to {owner}: push to YOUR_USER/NAME or an organisation where you have write "
            f"access, or ask the owner of {repo_id} for write access"
        )
    return "see the Hub's message above"


def _hub_message(error: Exception) -> str:
    first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    server = getattr(error, "server_message", None)
    return f"{type(error).__name__}: {first}" + (f" ({server})" if server and server not in first else "")


def push_folder(
    folder: str | os.PathLike,
    repo_id: str,
    repo_type: str = "model",
    private: bool = True,
    token: str | None = None,
    commit_message: str | None = None,
    ignore_patterns: Sequence[str] = UPLOAD_IGNORE,
) -> str:
    """Create `repo_id` (private by default; an existing repo is kept) and upload `folder` to it, `ignore_patterns`
    left out. Returns the commit URL; a refusal by the Hub raises HubPushError chained to the Hub's error."""
    from httpx2 import TransportError
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError, LocalTokenNotFoundError, OfflineModeIsEnabled

    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder; expected the folder to upload to {repo_id}")
    api = HfApi(token=token)
    try:
        api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True)
        info = api.upload_folder(
            folder_path=str(folder),
            repo_id=repo_id,
            repo_type=repo_type,
            commit_message=commit_message or f"Upload {folder.name} (affectgpt)",
            ignore_patterns=list(ignore_patterns),
        )
    except (HfHubHTTPError, LocalTokenNotFoundError, OfflineModeIsEnabled, TransportError) as error:
        raise HubPushError(
            f"pushing {folder} to the {repo_type} repo {repo_id} failed: {_hub_message(error)}; "
            f"{_advice(error, repo_id)}"
        ) from error
    return str(getattr(info, "commit_url", info))


__all__ = ["UPLOAD_IGNORE", "HubPushError", "push_folder"]
