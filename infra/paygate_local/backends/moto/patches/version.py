"""The moto versions the patches were written for: every patch reaches into moto's internals, so
``patched()`` refuses another version (``UnsupportedMotoVersion``) rather than misbehave quietly.
For a new version: re-check the patches against its code, then add it to ``SUPPORTED_MOTO_VERSIONS``."""

from __future__ import annotations

SUPPORTED_MOTO_VERSIONS = ("5.2.5",)  # requirements.lock pins moto==5.2.5


class UnsupportedMotoVersion(RuntimeError):
    """The installed moto is not one these patches were written for."""


def check_moto_version(version: str | None = None) -> None:
    """Raise ``UnsupportedMotoVersion`` unless ``version`` (default: the installed moto's) is supported."""
    if version is None:
        import moto

        version = moto.__version__
    if version not in SUPPORTED_MOTO_VERSIONS:
        raise UnsupportedMotoVersion(
            f"paygate_local.backends.moto.patches was written for moto {', '.join(SUPPORTED_MOTO_VERSIONS)}, "
            f"but moto {version} is installed: reinstall the pinned version (make setup; "
            f"requirements.lock pins moto), or review the patches against moto {version}'s code")
