"""What the fidelity tests share besides fixtures: the webhook, the JS SDK's folder, a served portal."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

from obmen_sandbox.bitrix24 import Bitrix24Sandbox

JS_DIR = Path(__file__).parent / "js"
WEBHOOK = "1/fidelitytoken"


@dataclass(frozen=True)
class Served:
    """A sandbox portal served over HTTPS on a loopback port."""

    sandbox: Bitrix24Sandbox
    base_url: str
    cert: str

    @property
    def host(self) -> str:
        """`127.0.0.1:PORT`, what the SDKs call the portal's domain."""
        return self.base_url.removeprefix("https://")

    @property
    def webhook_url(self) -> str:
        """The incoming-webhook URL as Bitrix24 shows it: `https://portal/rest/USER/TOKEN/`."""
        return f"{self.base_url}/rest/{WEBHOOK}/"

    def ssl_context(self) -> ssl.SSLContext:
        """A client context that trusts the throwaway certificate (verification stays on)."""
        return ssl.create_default_context(cafile=self.cert)
