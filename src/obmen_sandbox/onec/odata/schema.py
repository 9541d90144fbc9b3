"""The УТ 11 objects the sandbox publishes over OData, and their `$metadata` (EDMX, OData v3).

Names follow 1C's rules (`Catalog_<Имя>`, `Document_<Имя>`, `InformationRegister_<Имя>`,
`AccumulationRegister_<Имя>_RecordType`, `ChartOfCharacteristicTypes_<Имя>`); every reference is a
`<Field>_Key` of `Edm.Guid`, tabular parts are collections of `<Set>_<ТЧ>_RowType`, dates are
`Edm.DateTime` without a zone, enumerations `Edm.String`. The schema namespace and the container are
`StandardODATA`, CSDL `http://schemas.microsoft.com/ado/2009/11/edm`, `DataServiceVersion="3.0"`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from xml.sax.saxutils import quoteattr

__all__ = ["BANK_RECEIPTS", "CASH_RECEIPTS", "ENTITY_SETS", "EntitySet", "metadata_xml"]

_STD_CATALOG = (
    ("Ref_Key", "Edm.Guid"),
    ("DataVersion", "Edm.String"),
    ("DeletionMark", "Edm.Boolean"),
    ("Code", "Edm.String"),
    ("Description", "Edm.String"),
    ("Predefined", "Edm.Boolean"),
    ("PredefinedDataName", "Edm.String"),
)
_STD_DOCUMENT = (
    ("Ref_Key", "Edm.Guid"),
    ("DataVersion", "Edm.String"),
    ("DeletionMark", "Edm.Boolean"),
    ("Number", "Edm.String"),
    ("Date", "Edm.DateTime"),
    ("Posted", "Edm.Boolean"),
)


@dataclass(frozen=True)
class EntitySet:
    """One published set: its properties, its key, its tabular parts and virtual tables."""

    name: str
    properties: tuple[tuple[str, str], ...]
    key: tuple[str, ...] = ("Ref_Key",)
    #: Tabular part → its row's properties (besides `Ref_Key` and `LineNumber`).
    tables: Mapping[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)
    #: Virtual table (`Balance`, `SliceLast`) → the properties of its rows.
    virtual: Mapping[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)
    #: Whether the sandbox lets a client create and change objects of this set.
    writable: bool = False
    document: bool = False

    @property
    def fields(self) -> frozenset[str]:
        """Every property name, tabular parts included (what `$select` and `$filter` may name)."""
        return frozenset(name for name, _ in self.properties) | frozenset(self.tables)

    @property
    def columns(self) -> dict[str, frozenset[str]]:
        """Each tabular part's column names (what a lambda over it may name)."""
        return {t: frozenset(("Ref_Key", "LineNumber", *(n for n, _ in c))) for t, c in self.tables.items()}


_PRICE_KEYS = (
    ("Номенклатура_Key", "Edm.Guid"),
    ("Характеристика_Key", "Edm.Guid"),
    ("ВидЦены_Key", "Edm.Guid"),
)
_STOCK_KEYS = (
    ("Номенклатура_Key", "Edm.Guid"),
    ("Характеристика_Key", "Edm.Guid"),
    ("Склад_Key", "Edm.Guid"),
)

#: The settlement rows of an incoming payment (УТ 11.1–11.3 names): the order it pays, a composite
#: reference (`Заказ` + `Заказ_Type`), and the sum that goes to it.
_SETTLEMENT = {
    "РасшифровкаПлатежа": (("Заказ", "Edm.String"), ("Заказ_Type", "Edm.String"), ("Сумма", "Edm.Double"))
}
_PAYMENT = (
    *_STD_DOCUMENT,
    ("Контрагент_Key", "Edm.Guid"),
    ("СуммаДокумента", "Edm.Double"),
    ("Комментарий", "Edm.String"),
)
BANK_RECEIPTS = "Document_ПоступлениеБезналичныхДенежныхСредств"
CASH_RECEIPTS = "Document_ПриходныйКассовыйОрдер"

ENTITY_SETS: Mapping[str, EntitySet] = {
    s.name: s
    for s in (
        EntitySet(
            "Catalog_Номенклатура",
            (
                *_STD_CATALOG,
                ("Parent_Key", "Edm.Guid"),
                ("IsFolder", "Edm.Boolean"),
                ("Артикул", "Edm.String"),
                ("НаименованиеПолное", "Edm.String"),
                ("Описание", "Edm.String"),
                ("ЕдиницаИзмерения_Key", "Edm.Guid"),
                ("СтавкаНДС", "Edm.String"),
            ),
        ),
        EntitySet(
            "Catalog_ХарактеристикиНоменклатуры",
            (*_STD_CATALOG, ("Owner_Key", "Edm.Guid"), ("НаименованиеПолное", "Edm.String")),
            tables={
                "ДополнительныеРеквизиты": (
                    ("Свойство_Key", "Edm.Guid"),
                    ("Значение", "Edm.String"),
                    ("Значение_Type", "Edm.String"),
                )
            },
        ),
        EntitySet("ChartOfCharacteristicTypes_ДополнительныеРеквизитыИСведения", _STD_CATALOG),
        EntitySet("Catalog_УпаковкиЕдиницыИзмерения", (*_STD_CATALOG, ("НаименованиеПолное", "Edm.String"))),
        EntitySet("Catalog_Валюты", _STD_CATALOG),
        EntitySet(
            "Catalog_ВидыЦен",
            (*_STD_CATALOG, ("ВалютаЦены_Key", "Edm.Guid"), ("ЦенаВключаетНДС", "Edm.Boolean")),
        ),
        EntitySet("Catalog_Склады", (*_STD_CATALOG, ("Parent_Key", "Edm.Guid"), ("IsFolder", "Edm.Boolean"))),
        EntitySet(
            "InformationRegister_ЦеныНоменклатуры25",
            (("Period", "Edm.DateTime"), *_PRICE_KEYS, ("Цена", "Edm.Double"), ("Active", "Edm.Boolean")),
            key=("Period", "Номенклатура_Key", "Характеристика_Key", "ВидЦены_Key"),
            virtual={"SliceLast": (*_PRICE_KEYS, ("Period", "Edm.DateTime"), ("Цена", "Edm.Double"))},
        ),
        EntitySet(
            "AccumulationRegister_ТоварыНаСкладах_RecordType",
            (
                ("Recorder", "Edm.String"),
                ("Recorder_Type", "Edm.String"),
                ("Period", "Edm.DateTime"),
                ("LineNumber", "Edm.Int64"),
                ("Active", "Edm.Boolean"),
                ("RecordType", "Edm.String"),
                *_STOCK_KEYS,
                ("ВНаличии", "Edm.Double"),
            ),
            key=("Recorder", "LineNumber"),
            virtual={"Balance": (*_STOCK_KEYS, ("ВНаличииBalance", "Edm.Double"))},
        ),
        EntitySet("Catalog_Партнеры", (*_STD_CATALOG, ("Клиент", "Edm.Boolean")), writable=True),
        EntitySet(
            "Catalog_Контрагенты",
            (
                *_STD_CATALOG,
                ("НаименованиеПолное", "Edm.String"),
                ("ИНН", "Edm.String"),
                ("КПП", "Edm.String"),
                ("ЮрФизЛицо", "Edm.String"),
                ("Партнер_Key", "Edm.Guid"),
                ("АдресРегистрации", "Edm.String"),
            ),
            tables={"КонтактнаяИнформация": (("Тип", "Edm.String"), ("Представление", "Edm.String"))},
            writable=True,
        ),
        EntitySet(
            "Document_ЗаказКлиента",
            (
                *_STD_DOCUMENT,
                ("Партнер_Key", "Edm.Guid"),
                ("Контрагент_Key", "Edm.Guid"),
                ("Статус", "Edm.String"),
                ("НомерПоДаннымКлиента", "Edm.String"),
                ("ДатаПоДаннымКлиента", "Edm.DateTime"),
                ("СуммаДокумента", "Edm.Double"),
                ("ЦенаВключаетНДС", "Edm.Boolean"),
                ("Комментарий", "Edm.String"),
            ),
            tables={
                "Товары": (
                    ("Номенклатура_Key", "Edm.Guid"),
                    ("Характеристика_Key", "Edm.Guid"),
                    ("Количество", "Edm.Double"),
                    ("Цена", "Edm.Double"),
                    ("Сумма", "Edm.Double"),
                    ("СуммаРучнойСкидки", "Edm.Double"),
                    ("СтавкаНДС", "Edm.String"),
                    ("СуммаНДС", "Edm.Double"),
                )
            },
            writable=True,
            document=True,
        ),
        EntitySet(
            BANK_RECEIPTS,
            (*_PAYMENT, ("НазначениеПлатежа", "Edm.String")),
            tables=_SETTLEMENT,
            writable=True,
            document=True,
        ),
        EntitySet(
            CASH_RECEIPTS,
            (*_PAYMENT, ("Основание", "Edm.String"), ("ПринятоОт", "Edm.String")),
            tables=_SETTLEMENT,
            writable=True,
            document=True,
        ),
    )
}


def _props(items: tuple[tuple[str, str], ...], indent: str) -> list[str]:
    return [f'{indent}<Property Name={quoteattr(n)} Type={quoteattr(t)} Nullable="true"/>' for n, t in items]


def _entity_type(s: EntitySet) -> list[str]:
    lines = [f"<EntityType Name={quoteattr(s.name)}>", "<Key>"]
    lines += [f"<PropertyRef Name={quoteattr(k)}/>" for k in s.key]
    lines += ["</Key>", *_props(s.properties, "")]
    for table in s.tables:
        row = f"StandardODATA.{s.name}_{table}_RowType"
        lines.append(
            f'<Property Name={quoteattr(table)} Type={quoteattr(f"Collection({row})")} Nullable="false"/>'
        )
    lines.append("</EntityType>")
    for table, columns in s.tables.items():
        lines.append(f"<ComplexType Name={quoteattr(f'{s.name}_{table}_RowType')}>")
        lines += _props((("Ref_Key", "Edm.Guid"), ("LineNumber", "Edm.Int64"), *columns), "")
        lines.append("</ComplexType>")
    for function, columns in s.virtual.items():
        lines.append(f"<ComplexType Name={quoteattr(f'{s.name}_{function}')}>")
        lines += _props(columns, "")
        lines.append("</ComplexType>")
    return lines


def _associations(sets: Mapping[str, EntitySet]) -> list[str]:
    """References as associations (`Catalog_Номенклатура_Parent` …), as 1C's own `$metadata` has them."""
    lines: list[str] = []
    for s in sets.values():
        for name, kind in s.properties:
            if kind == "Edm.Guid" and name.endswith("_Key") and name != "Ref_Key":
                assoc = f"{s.name}_{name[:-4]}"
                lines += [
                    f"<Association Name={quoteattr(assoc)}>",
                    f'<End Role="Begin" Type={quoteattr(f"StandardODATA.{s.name}")} Multiplicity="*"/>',
                    f'<End Role="End" Type={quoteattr(f"StandardODATA.{s.name}")} Multiplicity="0..1"/>',
                    "</Association>",
                ]
    return lines


def metadata_xml(sets: Mapping[str, EntitySet] = ENTITY_SETS) -> str:
    """The `$metadata` document of the published sets."""
    body: list[str] = []
    for s in sets.values():
        body += _entity_type(s)
    body += _associations(sets)
    body.append('<EntityContainer Name="StandardODATA" m:IsDefaultEntityContainer="true">')
    body += [
        f"<EntitySet Name={quoteattr(s.name)} EntityType={quoteattr(f'StandardODATA.{s.name}')}/>"
        for s in sets.values()
    ]
    for s in sets.values():
        if s.document:
            for action in ("Post", "Unpost"):
                body += [
                    f'<FunctionImport Name="{action}" IsBindable="true" m:IsAlwaysBindable="true">',
                    f'<Parameter Name="bindingParameter" Type={quoteattr(f"StandardODATA.{s.name}")}/>',
                    '<Parameter Name="PostingModeOperational" Type="Edm.Boolean"/>'
                    if action == "Post"
                    else "",
                    "</FunctionImport>",
                ]
        for function in s.virtual:
            rows, binding = f"StandardODATA.{s.name}_{function}", f"StandardODATA.{s.name}"
            body += [
                f"<FunctionImport Name={quoteattr(function)} "
                f'ReturnType={quoteattr(f"Collection({rows})")} IsBindable="true">',
                f'<Parameter Name="bindingParameter" Type={quoteattr(f"Collection({binding})")}/>',
                '<Parameter Name="Condition" Type="Edm.String"/>',
                '<Parameter Name="Period" Type="Edm.DateTime"/>',
                "</FunctionImport>",
            ]
    body.append("</EntityContainer>")
    head = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<edmx:Edmx xmlns:edmx="http://schemas.microsoft.com/ado/2007/06/edmx" Version="1.0">\n'
        '<edmx:DataServices xmlns:m="http://schemas.microsoft.com/ado/2007/08/dataservices/metadata" '
        'm:DataServiceVersion="3.0">\n'
        '<Schema xmlns="http://schemas.microsoft.com/ado/2009/11/edm" Namespace="StandardODATA">\n'
    )
    return (
        head + "\n".join(line for line in body if line) + "\n</Schema>\n</edmx:DataServices>\n</edmx:Edmx>\n"
    )
