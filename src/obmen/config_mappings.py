"""The `[mapping]` tables: how one system's vocabulary reads in another's (ARCHITECTURE §4).

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

__all__ = ["InvoiceStages", "MappingSettings", "PipelineMap"]

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
    stage_to_status: dict[str, str] = {}
    fallback_stage: str = "NEW"
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

    def stage_of(self, status: str) -> str:
        """The stage for an order status (the fallback when unmapped), with the pipeline's prefix."""
        stage = self.status_to_stage.get(status, self.fallback_stage)
        prefix = f"C{self.category_id}:" if self.category_id else ""
        return stage if ":" in stage else prefix + stage

    def status_of(self, stage: str) -> str:
        """The order status for a stage (the fallback when unmapped)."""
        bare = stage.split(":", 1)[1] if ":" in stage else stage
        explicit = self.stage_to_status.get(stage) or self.stage_to_status.get(bare)
        if explicit:
            return explicit
        for status, mapped in self.status_to_stage.items():
            if mapped in (stage, bare):
                return status
        return self.fallback_status


class InvoiceStages(_Section):
    """Smart-invoice (31) stage ⇄ payment state; stage suffixes, the pipeline prefix is added."""

    category_id: int = Field(0, ge=0)
    unpaid: str = "N"
    paid: str = "P"
    cancelled: str = "D"


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
    invoice: InvoiceStages = InvoiceStages()
    #: The price type shown on the site and in the CRM (its 1C name).
    price_type: str = "Розничная"
    #: 1C warehouse name → Bitrix24 store id; unlisted warehouses are summed into the product quantity.
    warehouses: dict[str, int] = {}
    #: The catalog section (its xml_id) that holds delivery products, and delivery service → product xml_id.
    delivery_section: str = "obmen-delivery"
    delivery: dict[str, str] = {}
    #: Site payment system name → 1C payment kind name.
    payment_systems: dict[str, str] = {}
    #: Bitrix24 user id → 1C responsible person's name.
    managers: dict[int, str] = {}
    #: Site order property code → deal field (`UF_CRM_…` or a standard field such as `COMMENTS`).
    order_properties: dict[str, str] = {}
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
    def _pipelines_exist(self) -> MappingSettings:
        for site, name in {**self.sites, "default_pipeline": self.default_pipeline}.items():
            if name not in self.pipelines:
                known = ", ".join(sorted(self.pipelines))
                raise ValueError(f"{site} names pipeline {name!r}, which is not defined (defined: {known})")
        return self

    def pipeline_for(self, site: str | None) -> PipelineMap:
        """The pipeline an order from `site` goes to."""
        return self.pipelines[self.sites.get(site or "", self.default_pipeline)]

    def onec_status_name(self, status: str) -> str | None:
        """The 1C status name for a site status code, if one is mapped."""
        return next((name for name, code in self.onec_statuses.items() if code == status), None)
