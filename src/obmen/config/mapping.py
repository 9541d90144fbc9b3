"""The `[mapping]` tables: how one system's vocabulary reads in another's (docs/architecture.md §4).

Order statuses are canonical in the site's codes (`N`, `P`, `F`…: orders are born there). Each deal
pipeline maps them to stages both ways, with a declared fallback so that an unmapped value never drops an
order; 1C's status names map to the same codes. Delivery services become catalog products in one section,
payment systems, price types, warehouses and managers have tables too. Everything is validated at startup
(a pipeline that a site names must exist; a stage must belong to its pipeline).
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "CANCELLED",
    "InvoiceStages",
    "MappingSettings",
    "OrderProperty",
    "PipelineMap",
    "property_field",
]

#: The status code rows use for a cancelled order: a stock site keeps the cancellation as a flag of the
#: order, not as a status, so a stage mapped to or from it reads as cancelled (docs/architecture.md §2.11).
CANCELLED = "C"
_STAGE = re.compile(r"^(C\d+:)?[A-Z0-9_]+$")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PipelineMap(_Section):
    """One deal pipeline: order status ⇄ stage both ways, and where unmapped values land."""

    category_id: int = Field(0, ge=0)
    #: Site order status → deal stage (`NEW`, `PREPARATION`, `C2:WON` …).
    status_to_stage: dict[str, str] = {
        "N": "NEW",
        "P": "PREPARATION",
        "A": "PREPAYMENT_INVOICE",
        "D": "EXECUTING",
        "F": "WON",
        "C": "LOSE",
    }
    #: Deal stage → site order status; what is missing is read through the inverse of `status_to_stage`.
    #: An empty status says the stage tells nothing about the status (docs/architecture.md §2.12). With
    #: `status_to_stage` the defaults read every stage of a fresh portal's pipeline
    #: (docs/protocols/bitrix24.md §5.3): the final invoice tells nothing, the failure analysis is a
    #: cancelled order.
    stage_to_status: dict[str, str] = {"FINAL_INVOICE": "", "APOLOGY": "C"}
    #: The stage of a deal whose order's status no row maps (the order is never dropped).
    fallback_stage: str = "NEW"
    #: The status of a new order made from a deal whose stage tells none (creates only).
    fallback_status: str = "N"

    @model_validator(mode="after")
    def _stages_belong_here(self) -> PipelineMap:
        prefix = f"C{self.category_id}:" if self.category_id else ""
        stages = [*self.status_to_stage.values(), *self.stage_to_status, self.fallback_stage]
        for stage in stages:
            if not _STAGE.match(stage):
                raise ValueError(f"stage {stage!r} is not a Bitrix24 stage id like NEW or C2:WON")
            if ":" in stage and not stage.startswith(prefix or "\0"):
                raise ValueError(f"stage {stage!r} is not in pipeline {self.category_id}")
        return self

    def stage(self, status: str) -> str:
        """The stage for an order status (the fallback when unmapped), with the pipeline's prefix."""
        return self.mapped_stage(status) or self._full(self.fallback_stage)

    def mapped_stage(self, status: str) -> str | None:
        """The stage a row maps an order status to, with the pipeline's prefix; None when unmapped."""
        stage = self.status_to_stage.get(status)
        return self._full(stage) if stage else None

    def _full(self, stage: str) -> str:
        prefix = f"C{self.category_id}:" if self.category_id else ""
        return stage if ":" in stage else prefix + stage

    def reading(self, stage: str) -> str | None:
        """The order status a stage tells: explicit, else `status_to_stage` read backwards; None when it
        tells none (unmapped, or mapped to ""): unknown, not a status (docs/architecture.md §2.12). A
        cancellation stage tells no status either: it tells that the order is cancelled (`cancels`)."""
        told = self._told(stage)
        return None if told == CANCELLED else told

    def cancels(self, stage: str) -> bool:
        """Whether a stage says the order is cancelled (it is mapped to or from `C`)."""
        return self._told(stage) == CANCELLED

    def cancelled_stage(self) -> str | None:
        """The stage of a cancelled order's deal (the `C` row), with the prefix; None when unmapped."""
        return self.mapped_stage(CANCELLED)

    def _told(self, stage: str) -> str | None:
        bare = stage.split(":", 1)[1] if ":" in stage else stage
        for key in (stage, bare):
            if key in self.stage_to_status:
                return self.stage_to_status[key] or None
        return next((s for s, mapped in self.status_to_stage.items() if mapped in (stage, bare)), None)

    def status(self, stage: str) -> str:
        """The status for a new order made from a deal in `stage`: its reading, else the fallback."""
        return self.reading(stage) or self.fallback_status


class InvoiceStages(_Section):
    """Smart-invoice (31) stage ⇄ payment state; stage suffixes, the pipeline prefix is added."""

    #: The invoice pipeline; 0: the portal's default, whose id the connector asks for when it needs it.
    category_id: int = Field(0, ge=0)
    unpaid: str = "N"
    paid: str = "P"
    cancelled: str = "D"

    def stage(self, suffix: str) -> str:
        """The full stage id: `DT31_{category}:{suffix}` (docs/protocols/bitrix24.md §5.3)."""
        return f"DT31_{self.category_id}:{suffix}"

    def of(self, paid: bool, cancelled: bool) -> str:
        """The stage for a payment state; a cancelled order's invoice is cancelled even if paid."""
        return self.stage(self.cancelled if cancelled else self.paid if paid else self.unpaid)


#: Deal fields obmen writes from other order fields: a property mapped to one would fight over it.
_OWN_DEAL_FIELDS = frozenset(
    {
        "TITLE",
        "STAGE_ID",
        "CATEGORY_ID",
        "OPPORTUNITY",
        "IS_MANUAL_OPPORTUNITY",
        "CURRENCY_ID",
        "ASSIGNED_BY_ID",
        "CONTACT_ID",
        "CONTACT_IDS",
        "COMPANY_ID",
        "COMMENTS",
        "ADDITIONAL_INFO",
        "ORIGINATOR_ID",
        "ORIGIN_ID",
    }
)
_DEAL_FIELD = re.compile(r"^[A-Z][A-Z0-9_]*$")


class OrderProperty(_Section):
    """One site order property: the deal field and the document requisite names it travels under."""

    #: The deal field (`UF_CRM_…` or a standard field such as `SOURCE_DESCRIPTION`); "" = not in the CRM.
    deal: str = ""
    #: The `ЗначениеРеквизита` name in 1C's documents; "" = the site's name.
    onec: str = ""
    #: The name the site's CommerceML export gives the property; "" = its code.
    site: str = ""

    @model_validator(mode="after")
    def _a_deal_field(self) -> OrderProperty:
        if self.deal and not _DEAL_FIELD.match(self.deal):
            raise ValueError(f"deal field {self.deal!r} is not a Bitrix24 field name like UF_CRM_NOTE")
        if self.deal in _OWN_DEAL_FIELDS:
            raise ValueError(f"deal field {self.deal} carries another order field; pick a UF_CRM_… field")
        return self


def property_field(code: str) -> str:
    """The canonical order field of a site order property (`property:ADDRESS`)."""
    return f"property:{code}"


class MappingSettings(_Section):
    """Every mapping table; the defaults fit a fresh portal, a stock site and УТ 11."""

    pipelines: dict[str, PipelineMap] = {"default": PipelineMap()}
    #: Site id (`s1`) or order type → pipeline name; unlisted sites use `default_pipeline`.
    sites: dict[str, str] = {}
    default_pipeline: str = "default"
    #: 1C's order status name → site status code (both ways: the first name of a code is written to 1C).
    onec_statuses: dict[str, str] = {
        "[N] Принят": "N",
        "[P] Оплачен, формируется к отправке": "P",
        "[D] Отгружен": "D",
        "[F] Выполнен": "F",
        "Отменен": "C",
    }
    #: `onec.mode = "odata"`: a value of УТ 11's enumeration `СтатусыЗаказовКлиентов` (the order's `Статус`)
    #: → site status code; the first value of a code is the one written to 1C.
    onec_odata_statuses: dict[str, str] = {
        "НеСогласован": "N",
        "КОбеспечению": "P",
        "КОтгрузке": "D",
        "Закрыт": "F",
    }
    invoice: InvoiceStages = InvoiceStages()
    #: The price type shown on the site and in the CRM (its 1C name).
    price_type: str = "Розничная"
    #: 1C warehouse (its name or `Ид`) → Bitrix24 store id, or 0: the warehouse counts nowhere (neither
    #: the site's stock nor any quantity). Unlisted warehouses count in the quantity, with no store.
    warehouses: dict[str, int] = {}
    #: The catalog section (its xml_id) that holds delivery products, and delivery service → product xml_id.
    delivery_section: str = "obmen-delivery"
    delivery: dict[str, str] = {}
    #: Site payment system name → 1C payment kind name.
    payment_systems: dict[str, str] = {}
    #: Bitrix24 user id → 1C responsible person's name (the deal's `ASSIGNED_BY_ID` ⇄ the order's
    #: `Ответственный` in 1C's documents); the order's `manager` field holds the name.
    managers: dict[int, str] = {}
    #: Site order property code → its deal field (`UF_CRM_…`), or a table `{ deal, onec, site }`.
    order_properties: dict[str, str | OrderProperty] = {}
    #: `article` / `barcode` → the code of the Bitrix24 catalog property holding it (`CML2_ARTICLE`):
    #: products made by hand in the portal are then matched by them, not duplicated.
    catalog_properties: dict[str, str] = {}

    @model_validator(mode="before")
    @classmethod
    def _keep_the_default_pipeline(cls, data: Any) -> Any:
        # Declaring a pipeline of one's own must not silently remove the stock one.
        if isinstance(data, dict) and isinstance(data.get("pipelines"), dict):
            data = {**data, "pipelines": {"default": {}, **data["pipelines"]}}
        return data

    @model_validator(mode="after")
    def _known_catalog_keys(self) -> MappingSettings:
        unknown = set(self.catalog_properties) - {"article", "barcode"}
        if unknown:
            names = ", ".join(sorted(unknown))
            raise ValueError(f"catalog_properties takes article and barcode, not {names}")
        return self

    @model_validator(mode="after")
    def _stores_are_ids(self) -> MappingSettings:
        negative = sorted(name for name, store in self.warehouses.items() if store < 0)
        if negative:
            raise ValueError(f"warehouses maps to store ids ≥ 1 (or 0: not counted), not for {negative}")
        return self

    def stores(self) -> tuple[int, ...]:
        """The Bitrix24 store ids `warehouses` maps to (sorted, distinct)."""
        return tuple(sorted({store for store in self.warehouses.values() if store}))

    @model_validator(mode="after")
    def _pipelines_exist(self) -> MappingSettings:
        for site, name in {**self.sites, "default_pipeline": self.default_pipeline}.items():
            if name not in self.pipelines:
                known = ", ".join(sorted(self.pipelines))
                raise ValueError(f"{site} names pipeline {name!r}, which is not defined (defined: {known})")
        return self

    @model_validator(mode="after")
    def _property_deal_fields(self) -> MappingSettings:
        for code, entry in self.order_properties.items():
            if isinstance(entry, str):
                OrderProperty(deal=entry)  # the same checks as the table form
            if not re.fullmatch(r"[A-Za-z0-9_]+", code):
                raise ValueError(f"order property code {code!r} is not a site property code like ADDRESS")
        return self

    def properties(self) -> dict[str, OrderProperty]:
        """Every order property by its site code, the short form (`CODE = "UF_CRM_…"`) as a table."""
        return {
            code: OrderProperty(deal=entry) if isinstance(entry, str) else entry
            for code, entry in self.order_properties.items()
        }

    def pipeline_for(self, site: str | None) -> PipelineMap:
        """The pipeline an order from `site` goes to."""
        return self.pipelines[self.sites.get(site or "", self.default_pipeline)]

    def onec_status_name(self, status: str) -> str | None:
        """The 1C status name for a site status code, if one is mapped."""
        return next((name for name, code in self.onec_statuses.items() if code == status), None)
