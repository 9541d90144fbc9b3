"""How a partner names order statuses and payment systems, translated at the boundary both ways.

The canonical order status is the site's code (`N`, `P`…, docs/architecture.md §4) and a payment's system
is the site's payment system. 1C names both its own way (`[mapping] onec_statuses`, `payment_systems`,
docs/configuration.md): its documents are translated on the way in, and obmen's on the way out. A status
name no table row covers, and that carries no `[N]`-style code, tells nothing about the status: it is
left out, so that side does not vote on the field (docs/architecture.md §2.12).

Order properties (`[mapping] order_properties`) travel as `ЗначениеРеквизита` under the partner's name
for them; inside obmen a document carries them as requisites named `property:<site code>`, the order's
canonical field. A requisite no row names is not a property and is left as it is.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace

from obmen.config.mapping import property_field
from obmen.connectors.commerceml.items import Document

__all__ = ["MANAGER", "PROPERTY", "RESPONSIBLE", "Vocabulary"]

log = logging.getLogger(__name__)

_BRACKETED = re.compile(r"^\s*\[([^\]]+)\]")
_STATUS, _STATUS_ID, _PAYMENT = "Статус заказа", "Статуса заказа ИД", "Метод оплаты"
#: How a document inside obmen names an order property's requisite (`property:<code>`).
PROPERTY = property_field("")
#: The requisite naming an order's responsible manager in 1C's documents, and inside obmen.
RESPONSIBLE, MANAGER = "Ответственный", "manager"


def _key(text: str) -> str:
    return " ".join(text.split()).casefold()


@dataclass(frozen=True)
class Vocabulary:
    """A partner's names: status name → site status code; site payment system → partner's payment kind."""

    statuses: Mapping[str, str] = field(default_factory=dict)
    payments: Mapping[str, str] = field(default_factory=dict)
    #: The partner's requisite name of an order property → the property's site code.
    properties: Mapping[str, str] = field(default_factory=dict)
    #: The responsible managers' names `[mapping] managers` knows (the order's `manager`).
    managers: Collection[str] = ()
    #: Names seen that no row maps, said in the log once each.
    unmapped: set[str] = field(default_factory=set, init=False, compare=False, repr=False)

    def manager(self, name: str) -> str | None:
        """The table's spelling of a partner's responsible name; None (logged once) when unmapped."""
        found = next((known for known in self.managers if _key(known) == _key(name)), None)
        if found is None and name.strip() and name not in self.unmapped:
            self.unmapped.add(name)
            log.warning(
                "%s %r is in no [mapping] managers row: the order's manager stays as it is / "
                "ответственный не сопоставлен, менеджер заказа не меняется",
                RESPONSIBLE,
                name,
            )
        return found

    def status_code(self, name: str) -> str | None:
        """The site's code for a partner's status name; None when nothing says which it is.

        Without a table the partner speaks the site's codes. With one, a name is read through it, else
        through the `[P] Оплачен…` form Bitrix writes, else as a code the table knows.
        """
        match = _BRACKETED.match(name)
        if not self.statuses:
            return match.group(1).strip() if match else name.strip()
        by_name = {_key(n): code for n, code in self.statuses.items()}
        if _key(name) in by_name:
            return by_name[_key(name)]
        if match:
            return match.group(1).strip()
        return name.strip() if name.strip() in self.statuses.values() else None

    def status_name(self, code: str) -> str:
        """The partner's name for a site status code: the first row naming it, else the code."""
        return next((name for name, c in self.statuses.items() if c == code), code)

    def payment_kind(self, system: str) -> str:
        """The partner's payment kind for a site payment system (unlisted: the same name)."""
        return self.payments.get(system, system)

    def payment_system(self, kind: str) -> str:
        """The site payment system of a partner's payment kind (unlisted: the same name)."""
        return next((s for s, k in self.payments.items() if _key(k) == _key(kind)), kind)

    def incoming(self, document: Document) -> Document:
        """A partner's document in the site's terms."""
        out: list[tuple[str, str]] = []
        named = {_key(n): code for n, code in self.properties.items()}
        for name, value in document.requisites:
            if _key(name) in named:
                out.append((property_field(named[_key(name)]), value.strip()))
                continue
            if name == RESPONSIBLE:
                known = self.manager(value) if self.managers else None
                if known is not None:
                    out.append((MANAGER, known))
                continue  # unmapped: unknown, the manager stays (docs/architecture.md §2.12)
            if name == _STATUS and document.requisite(_STATUS_ID) is None:
                code = self.status_code(value)
                if code is None:
                    continue  # unmapped: unknown, not the fallback
                value = code
            elif name == _PAYMENT:
                value = self.payment_system(value)
            out.append((name, value))
        return replace(document, requisites=tuple(out))

    def outgoing(self, document: Document) -> Document:
        """obmen's document in the partner's terms (the status code stays in `Статуса заказа ИД`)."""
        translate = {_STATUS: self.status_name, _PAYMENT: self.payment_kind}
        names = {property_field(code): name for name, code in self.properties.items()}
        names[MANAGER] = RESPONSIBLE
        pairs = tuple(
            (names.get(n, n), translate[n](v) if n in translate else v)
            for n, v in document.requisites
            if not n.startswith(PROPERTY) or n in names
        )
        if not self.managers:
            pairs = tuple((n, v) for n, v in pairs if n != RESPONSIBLE)
        return replace(document, requisites=pairs)
