"""Pipelines (categories) and stages with their semantics (docs/protocols/bitrix24.md §5.3).

Stages live in table "crm.status" as `crm.status.list` rows; pipelines in "crm.category" as
`crm.category.list` rows. Deal stages of pipeline 0 are bare (`NEW`), of pipeline n prefixed `C{n}:`;
smart-invoice stages are `DT31_{n}:X` with `SEMANTICS` null / "S" / "F".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from obmen_sandbox.bitrix24.registry import PortalLike

__all__ = [
    "add_pipeline",
    "default_stage",
    "entity_id_for",
    "prefix_for",
    "seed_stages",
    "semantic_of",
    "stages_of",
]

# (STATUS_ID, NAME, SEMANTICS): the default deal pipeline of a Russian cloud portal.
DEAL_STAGES = (
    ("NEW", "Новая", None),
    ("PREPARATION", "Подготовка документов", None),
    ("PREPAYMENT_INVOICE", "Счёт на предоплату", None),
    ("EXECUTING", "В работе", None),
    ("FINAL_INVOICE", "Финальный счёт", None),
    ("WON", "Сделка успешна", "S"),
    ("LOSE", "Сделка провалена", "F"),
    ("APOLOGY", "Анализ причины провала", "F"),
)
LEAD_STATUSES = (
    ("NEW", "Не обработан", None),
    ("IN_PROCESS", "В работе", None),
    ("PROCESSED", "Обработан", None),
    ("CONVERTED", "Качественный лид", "S"),
    ("JUNK", "Некачественный лид", "F"),
)
INVOICE_STAGES = (
    ("N", "Новый", None),
    ("S", "Отправлен клиенту", None),
    ("P", "Оплачен", "S"),
    ("D", "Не оплачен", "F"),
)
DICTIONARIES: dict[str, tuple[tuple[str, str], ...]] = {
    "SOURCE": (
        ("CALL", "Звонок"),
        ("EMAIL", "Электронная почта"),
        ("WEB", "Веб-сайт"),
        ("STORE", "Интернет-магазин"),
        ("OTHER", "Другое"),
    ),
    "DEAL_TYPE": (
        ("SALE", "Продажа"),
        ("COMPLEX", "Комплексная продажа"),
        ("GOODS", "Продажа товара"),
        ("SERVICES", "Продажа услуги"),
        ("SERVICE", "Сервисное обслуживание"),
    ),
    "CONTACT_TYPE": (
        ("CLIENT", "Клиенты"),
        ("SUPPLIER", "Поставщики"),
        ("PARTNER", "Партнеры"),
        ("OTHER", "Другое"),
    ),
    "COMPANY_TYPE": (
        ("CUSTOMER", "Клиент"),
        ("SUPPLIER", "Поставщик"),
        ("COMPETITOR", "Конкурент"),
        ("PARTNER", "Партнер"),
        ("OTHER", "Другое"),
    ),
    "INDUSTRY": (("IT", "Информационные технологии"), ("MANUFACTURING", "Производство"), ("OTHER", "Другое")),
    "EMPLOYEES": (
        ("EMPLOYEES_1", "менее 50"),
        ("EMPLOYEES_2", "50-250"),
        ("EMPLOYEES_3", "250-500"),
        ("EMPLOYEES_4", "более 500"),
    ),
    "HONORIFIC": (("HNR_RU_1", "г-н"), ("HNR_RU_2", "г-жа")),
}
_EXTRA = {None: "process", "S": "success", "F": "failure"}


def prefix_for(entity_type_id: int, category_id: int) -> str:
    """The stage-id prefix: '' for deal pipeline 0, `C{n}` for others, `DT31_{n}` for invoices."""
    if entity_type_id == 2:
        return f"C{category_id}" if category_id else ""
    if entity_type_id == 31:
        return f"DT31_{category_id}"
    return ""


def entity_id_for(entity_type_id: int, category_id: int) -> str:
    """`ENTITY_ID` of the stage dictionary: STATUS, DEAL_STAGE[_n], SMART_INVOICE_STAGE_n."""
    if entity_type_id == 1:
        return "STATUS"
    if entity_type_id == 2:
        return f"DEAL_STAGE_{category_id}" if category_id else "DEAL_STAGE"
    return f"SMART_INVOICE_STAGE_{category_id}"


def _add_status(portal: PortalLike, entity_id: str, status_id: str, name: str, sort: int, **kw: Any) -> None:
    semantics = kw.pop("semantics", None)
    row = {
        "ENTITY_ID": entity_id,
        "STATUS_ID": status_id,
        "NAME": name,
        "NAME_INIT": name,
        "SORT": sort,
        "SYSTEM": "Y" if kw.pop("system", False) else "N",
        "CATEGORY_ID": kw.pop("category_id", None),
        "COLOR": kw.pop("color", "#39A8EF"),
        "SEMANTICS": semantics,
    }
    if kw.pop("extra", False):
        row["EXTRA"] = {"SEMANTICS": _EXTRA[semantics], "COLOR": row["COLOR"]}
    table = portal.table("crm.status")
    row_id = table.add(row)
    table.rows[row_id]["ID"] = row_id


def _stages(
    portal: PortalLike, entity_type_id: int, category_id: int, stages: Iterable[tuple[str, str, str | None]]
) -> None:
    prefix = prefix_for(entity_type_id, category_id)
    entity_id = entity_id_for(entity_type_id, category_id)
    for n, (status, name, semantics) in enumerate(stages):
        full = f"{prefix}:{status}" if prefix else status
        _add_status(
            portal,
            entity_id,
            full,
            name,
            (n + 1) * 10,
            semantics=semantics,
            system=n == 0 or semantics is not None,
            category_id=category_id if entity_type_id != 1 else None,
            extra=entity_type_id in (1, 2),
        )


def add_pipeline(
    portal: PortalLike,
    entity_type_id: int,
    category_id: int,
    name: str,
    stages: Iterable[tuple[str, str, str | None]] | None = None,
    *,
    default: bool = False,
    sort: int = 500,
) -> None:
    """Create a pipeline with its stages (defaults when `stages` is None)."""
    table = portal.table("crm.category")
    key = entity_type_id * 1_000_000 + category_id
    table.rows[key] = {
        "id": category_id,
        "name": name,
        "sort": sort,
        "entityTypeId": entity_type_id,
        "isDefault": "Y" if default else "N",
        "originId": "",
        "originatorId": "",
    }
    table.seed_ids_from(key + 1)
    defaults = DEAL_STAGES if entity_type_id == 2 else INVOICE_STAGES
    _stages(portal, entity_type_id, category_id, stages if stages is not None else defaults)


def seed_stages(portal: PortalLike) -> None:
    """Default pipelines and dictionaries of a fresh portal."""
    add_pipeline(portal, 2, 0, "Общая", default=True, sort=100)
    add_pipeline(portal, 31, 1, "Счета", default=True, sort=100)
    _stages(portal, 1, 0, LEAD_STATUSES)
    for entity_id, entries in DICTIONARIES.items():
        for n, (status, name) in enumerate(entries):
            _add_status(portal, entity_id, status, name, (n + 1) * 10, system=True)


def stages_of(portal: PortalLike, entity_type_id: int, category_id: int) -> list[dict[str, Any]]:
    """Stage rows of one pipeline in SORT order."""
    wanted = entity_id_for(entity_type_id, category_id)
    rows = [row for _, row in portal.table("crm.status") if row["ENTITY_ID"] == wanted]
    return sorted(rows, key=lambda row: int(row["SORT"]))


def categories_of(portal: PortalLike, entity_type_id: int) -> list[Mapping[str, Any]]:
    """Pipelines of one entity type."""
    rows = [row for _, row in portal.table("crm.category") if row["entityTypeId"] == entity_type_id]
    return sorted(rows, key=lambda row: (int(row["sort"]), int(row["id"])))


def default_category(portal: PortalLike, entity_type_id: int) -> int:
    """The default pipeline's id (0 for deals)."""
    rows = categories_of(portal, entity_type_id)
    chosen = next((row for row in rows if row["isDefault"] == "Y"), rows[0] if rows else None)
    return int(chosen["id"]) if chosen else 0


def default_stage(portal: PortalLike, entity_type_id: int, category_id: int) -> str | None:
    """The first stage of a pipeline."""
    rows = stages_of(portal, entity_type_id, category_id)
    return str(rows[0]["STATUS_ID"]) if rows else None


def semantic_of(portal: PortalLike, entity_type_id: int, category_id: int, stage: str) -> str | None:
    """'P' (in progress), 'S' or 'F' for a stage of the pipeline; None when the stage is not there."""
    for row in stages_of(portal, entity_type_id, category_id):
        if row["STATUS_ID"] == stage:
            return str(row["SEMANTICS"] or "P")
    return None
