"""Errors of the video and chat use cases that clients see (docs/API.md, "Errors")."""

from services.common.errors import ConflictError


class NoVideosError(ConflictError):
    code = "no_videos"
    default_message = "This session has no videos yet: add some first."
