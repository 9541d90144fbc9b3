"""CRM entity schemas: the fields of leads, deals, contacts, companies and smart invoices.

Rows are stored under the legacy upper-case names with typed Python values; the legacy methods answer
them as strings and `crm.item.*` as typed camelCase (docs/protocols/bitrix24.md §2.2, §5.1). Field lists
follow
D:…/crm/deals/crm-deal-fields.md, …/contacts/crm-contact-add.md, …/companies/crm-company-fields.md,
…/leads/crm-lead-fields.md and D:…/crm/universal/object-fields.md (invoice), checked against the
`*-get.md` examples (tests/fidelity/doc_examples.json).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ENTITIES", "Entity", "FieldSpec", "by_type_id", "camel", "upper_from_camel"]


@dataclass(frozen=True)
class FieldSpec:
    """One field as `*.fields` describes it."""

    name: str
    type: str = "string"
    title: str = ""
    required: bool = False
    read_only: bool = False
    multiple: bool = False
    status_type: str | None = None


def _f(name: str, kind: str = "string", **kw: Any) -> FieldSpec:
    return FieldSpec(name, kind, kw.pop("title", name.replace("_", " ").title()), **kw)


_COMMON_HEAD = (
    _f("ID", "integer", read_only=True),
    _f("ASSIGNED_BY_ID", "user"),
    _f("CREATED_BY_ID", "user", read_only=True),
    _f("MODIFY_BY_ID", "user", read_only=True),
    _f("DATE_CREATE", "datetime", read_only=True),
    _f("DATE_MODIFY", "datetime", read_only=True),
    _f("OPENED", "char"),
    _f("COMMENTS", "string"),
    _f("ORIGINATOR_ID", "string"),
    _f("ORIGIN_ID", "string"),
    _f("LAST_ACTIVITY_BY", "user", read_only=True),
    _f("LAST_ACTIVITY_TIME", "datetime", read_only=True),
    # crm.item only (D:…/crm/universal/crm-item-add.md); legacy methods do not show it.
    _f("OBSERVERS", "user", multiple=True),
)
_UTM = tuple(_f(f"UTM_{n}") for n in ("SOURCE", "MEDIUM", "CAMPAIGN", "CONTENT", "TERM"))
# Companies have no source (crm-company-fields.md lists none); the other types do.
_SOURCE = (_f("SOURCE_ID", "crm_status", status_type="SOURCE"), _f("SOURCE_DESCRIPTION", "string"))


def _address(prefix: str = "ADDRESS", country_code: bool = True) -> tuple[FieldSpec, ...]:
    """The legacy address parts; contacts have no `_COUNTRY_CODE` (crm-contact-get.md's example)."""
    parts: tuple[str, ...] = ("", "_2", "_CITY", "_POSTAL_CODE", "_REGION", "_PROVINCE", "_COUNTRY")
    parts += ("_COUNTRY_CODE",) if country_code else ()
    return (*(_f(prefix + part) for part in parts), _f(prefix + "_LOC_ADDR_ID", "integer"))


_MULTI = tuple(_f(n, "crm_multifield", multiple=True) for n in ("PHONE", "EMAIL", "WEB", "IM", "LINK"))
# Computed from the multi-fields on every read, never stored (crm-lead-fields.md, crm-company-fields.md).
_HAS_FLAGS = (
    _f("HAS_PHONE", "char", title="Phone Provided", read_only=True),
    _f("HAS_EMAIL", "char", title="E-mail Provided", read_only=True),
    _f("HAS_IMOL", "char", title="Open Channel Set", read_only=True),
)

_DEAL = (
    *_COMMON_HEAD,
    *_SOURCE,
    _f("TITLE"),
    _f("TYPE_ID", "crm_status", status_type="DEAL_TYPE"),
    _f("CATEGORY_ID", "crm_category"),
    _f("STAGE_ID", "crm_status", status_type="DEAL_STAGE"),
    _f("STAGE_SEMANTIC_ID", read_only=True),
    _f("IS_NEW", "char", read_only=True),
    _f("IS_RECURRING", "char"),
    _f("IS_RETURN_CUSTOMER", "char", read_only=True),
    _f("IS_REPEATED_APPROACH", "char", read_only=True),
    _f("PROBABILITY", "integer"),
    _f("CURRENCY_ID", "crm_currency"),
    _f("OPPORTUNITY", "double"),
    _f("IS_MANUAL_OPPORTUNITY", "char"),
    _f("TAX_VALUE", "double"),
    _f("COMPANY_ID", "crm_company"),
    _f("CONTACT_ID", "crm_contact"),
    _f("CONTACT_IDS", "crm_contact", multiple=True),
    _f("QUOTE_ID", "crm_quote"),
    _f("BEGINDATE", "date"),
    _f("CLOSEDATE", "date"),
    _f("CLOSED", "char"),
    _f("MOVED_BY_ID", "user", read_only=True),
    _f("MOVED_TIME", "datetime", read_only=True),
    _f("LEAD_ID", "crm_lead"),
    _f("ADDITIONAL_INFO"),
    _f("LOCATION_ID", "location"),
    *_UTM,
)
_CONTACT = (
    *_COMMON_HEAD,
    *_SOURCE,
    _f("HONORIFIC", "crm_status", status_type="HONORIFIC"),
    _f("NAME"),
    _f("SECOND_NAME"),
    _f("LAST_NAME"),
    _f("BIRTHDATE", "date"),
    _f("TYPE_ID", "crm_status", status_type="CONTACT_TYPE"),
    _f("POST"),
    _f("EXPORT", "char"),
    _f("COMPANY_ID", "crm_company"),
    _f("COMPANY_IDS", "crm_company", multiple=True),
    _f("LEAD_ID", "crm_lead", read_only=True),
    _f("ORIGIN_VERSION"),
    _f("PHOTO", "file"),
    _f("FACE_ID", "integer", read_only=True),
    *_address(country_code=False),
    *_MULTI,
    *_UTM,
)
_COMPANY = (
    *_COMMON_HEAD,
    _f("TITLE", required=True),
    _f("COMPANY_TYPE", "crm_status", status_type="COMPANY_TYPE"),
    _f("LOGO", "file"),
    _f("BANKING_DETAILS"),
    _f("INDUSTRY", "crm_status", status_type="INDUSTRY"),
    _f("EMPLOYEES", "crm_status", status_type="EMPLOYEES"),
    _f("CURRENCY_ID", "crm_currency"),
    _f("REVENUE", "double"),
    _f("IS_MY_COMPANY", "char"),
    _f("LEAD_ID", "crm_lead", read_only=True),
    _f("ORIGIN_VERSION"),
    *_address(),
    _f("ADDRESS_LEGAL"),
    *_address("REG_ADDRESS"),
    _f("LAST_COMMUNICATION_TIME", read_only=True),
    *_MULTI,
    *_UTM,
)
_LEAD = (
    *_COMMON_HEAD,
    *_SOURCE,
    _f("TITLE"),
    _f("HONORIFIC", "crm_status", status_type="HONORIFIC"),
    _f("NAME"),
    _f("SECOND_NAME"),
    _f("LAST_NAME"),
    _f("COMPANY_TITLE"),
    _f("STATUS_ID", "crm_status", status_type="STATUS"),
    _f("STATUS_SEMANTIC_ID", read_only=True),
    _f("STATUS_DESCRIPTION"),
    _f("MOVED_BY_ID", "user", read_only=True),
    _f("MOVED_TIME", "datetime", read_only=True),
    _f("CURRENCY_ID", "crm_currency"),
    _f("OPPORTUNITY", "double"),
    _f("IS_MANUAL_OPPORTUNITY", "char"),
    _f("COMPANY_ID", "crm_company"),
    _f("CONTACT_ID", "crm_contact"),
    _f("CONTACT_IDS", "crm_contact", multiple=True),
    _f("IS_RETURN_CUSTOMER", "char", read_only=True),
    _f("POST"),
    _f("BIRTHDATE", "date"),
    # Set when the lead reaches a final status (crm-lead-fields.md: read-only "Closing Date").
    _f("DATE_CLOSED", "datetime", read_only=True),
    *_address(),
    *_MULTI,
    *_UTM,
)
_INVOICE = (
    *_COMMON_HEAD[:8],
    _f("XML_ID"),
    _f("TITLE"),
    _f("ACCOUNT_NUMBER"),
    _f("CATEGORY_ID", "crm_category"),
    _f("STAGE_ID", "crm_status"),
    _f("PREVIOUS_STAGE_ID", "crm_status", read_only=True),
    _f("STAGE_SEMANTIC_ID", read_only=True),
    _f("MOVED_BY_ID", "user", read_only=True),
    _f("MOVED_TIME", "datetime", read_only=True),
    _f("BEGINDATE", "date"),
    _f("CLOSEDATE", "date"),
    _f("CURRENCY_ID", "crm_currency"),
    _f("OPPORTUNITY", "double"),
    _f("IS_MANUAL_OPPORTUNITY", "char"),
    _f("TAX_VALUE", "double"),
    _f("COMPANY_ID", "crm_company"),
    _f("CONTACT_ID", "crm_contact"),
    _f("CONTACT_IDS", "crm_contact", multiple=True),
    _f("MYCOMPANY_ID", "crm_company"),
    _f("PARENT_ID_2", "crm_entity"),
    _f("PARENT_ID_7", "crm_entity"),
    _f("LOCATION_ID", "location"),
    _f("SOURCE_ID", "crm_status", status_type="SOURCE"),
)


@dataclass(frozen=True)
class Entity:
    """A CRM object type (§5.1)."""

    type_id: int
    name: str
    table: str
    #: Legacy method prefix (`crm.deal`), None when only `crm.item.*` serves it.
    legacy: str | None
    #: Event name prefix: `ONCRMDEAL` + ADD/UPDATE/DELETE (§6.2).
    event: str
    #: Short code for product rows' `ownerType` (§5.2).
    owner_type: str
    fields: tuple[FieldSpec, ...]
    title_field: str | None = "TITLE"
    stage_field: str | None = None
    #: crm.item names that differ from the mechanical camelCase (leads call their status a stage).
    item_names: Mapping[str, str] = field(default_factory=dict)
    spec: dict[str, FieldSpec] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "spec", {f.name: f for f in self.fields})

    def item_name(self, upper: str, original_uf: bool = False) -> str:
        """The crm.item name of a stored field."""
        return self.item_names.get(upper) or camel(upper, original_uf)

    def upper_name(self, name: str) -> str:
        """The stored name of a crm.item field name."""
        for upper, item in self.item_names.items():
            if item == name:
                return upper
        return upper_from_camel(name)

    @property
    def has_multifields(self) -> bool:
        """Whether PHONE/EMAIL… belong to this type."""
        return "PHONE" in self.spec

    @property
    def described(self) -> tuple[FieldSpec, ...]:
        """What `*.fields` lists: the stored fields and, with multi-fields, the flags computed from them."""
        return self.fields + (_HAS_FLAGS if self.has_multifields else ())


ENTITIES: dict[str, Entity] = {
    "LEAD": Entity(
        1,
        "LEAD",
        "crm.lead",
        "crm.lead",
        "ONCRMLEAD",
        "L",
        _LEAD,
        stage_field="STATUS_ID",
        item_names={"STATUS_ID": "stageId", "STATUS_SEMANTIC_ID": "stageSemanticId"},
    ),
    "DEAL": Entity(2, "DEAL", "crm.deal", "crm.deal", "ONCRMDEAL", "D", _DEAL, stage_field="STAGE_ID"),
    "CONTACT": Entity(3, "CONTACT", "crm.contact", "crm.contact", "ONCRMCONTACT", "C", _CONTACT, None),
    "COMPANY": Entity(4, "COMPANY", "crm.company", "crm.company", "ONCRMCOMPANY", "CO", _COMPANY),
    # New invoices share the dynamic-item events with smart processes (§5.5).
    "SMART_INVOICE": Entity(
        31,
        "SMART_INVOICE",
        "crm.smart_invoice",
        None,
        "ONCRMDYNAMICITEM",
        "SI",
        _INVOICE,
        stage_field="STAGE_ID",
    ),
}


def by_type_id(type_id: Any) -> Entity | None:
    """The entity for an `entityTypeId`, or None when crm.item does not serve it here."""
    try:
        wanted = int(type_id)
    except (TypeError, ValueError):
        return None
    return next((e for e in ENTITIES.values() if e.type_id == wanted), None)


# crm.item names that are not the mechanical camelCase of the legacy name (object-fields.md).
_CAMEL_EXCEPTIONS = {
    "DATE_CREATE": "createdTime",
    "DATE_MODIFY": "updatedTime",
    "CREATED_BY_ID": "createdBy",
    "MODIFY_BY_ID": "updatedBy",
    "MOVED_BY_ID": "movedBy",
    "COMPANY_TYPE": "typeId",
}
_UPPER_EXCEPTIONS = {v: k for k, v in _CAMEL_EXCEPTIONS.items()}
_UF = re.compile(r"^UF_CRM_(\d+)_(.+)$")


def camel(name: str, original_uf: bool = False) -> str:
    """`ASSIGNED_BY_ID` → `assignedById`, `PARENT_ID_2` → `parentId2`, `UF_CRM_10_X` → `ufCrm10_X` (§5.1)."""
    if name in _CAMEL_EXCEPTIONS:
        return _CAMEL_EXCEPTIONS[name]
    if name.startswith("UF_"):
        if original_uf:
            return name
        match = _UF.match(name)
        if match and match.group(2).isdigit():
            return f"ufCrm{match.group(1)}_{match.group(2)}"
        rest = name[len("UF_CRM_") :] if name.startswith("UF_CRM_") else name[3:]
        return "ufCrm_" + rest
    head, *tail = name.lower().split("_")
    return head + "".join(part.capitalize() for part in tail)


def upper_from_camel(name: str) -> str:
    """The inverse of `camel` for names arriving at `crm.item.*`."""
    if name in _UPPER_EXCEPTIONS:
        return _UPPER_EXCEPTIONS[name]
    if name.startswith("UF_"):
        return name
    if name.startswith("ufCrm"):
        rest = name[len("ufCrm") :].lstrip("_")
        return "UF_CRM_" + rest
    return re.sub(r"(?<=[a-z])(?=[A-Z0-9])", "_", name).upper()
