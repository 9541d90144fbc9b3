"""`obmen check`: the configuration held against the database and every configured system, once."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sys
from typing import Annotated

import typer

from obmen.cli.common import ConfigOption, console, settings_from

__all__ = ["check"]

NAMES = {"database": "database", "onec": "1C", "site": "site", "bitrix24": "Bitrix24", "obmen": "obmen"}


def check(
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Check the database and each configured system; exit code 0 only when everything passes."""
    from obmen.app.checks import check_all

    settings = settings_from(config)
    report = asyncio.run(check_all(settings))
    if as_json:
        document = {
            "ok": report.ok,
            "checks": [dataclasses.asdict(c) for c in report.checks],
            "not_configured": report.not_configured,
            "facts_kept": report.facts,
        }
        sys.stdout.write(json.dumps(document, ensure_ascii=False, indent=2) + "\n")
    else:
        width = max(len(n) for n in NAMES.values())
        for c in report.checks:
            mark = "[green]✔[/green]" if c.ok else "[red]✘[/red]"
            console.print(f"{mark} {NAMES.get(c.system, c.system):<{width}}  {c.name}: ", end="")
            console.print(c.detail, markup=False, highlight=False, soft_wrap=True)
            if not c.ok and c.fix:
                console.print(f"  {'':<{width}}  → {c.fix}", markup=False, highlight=False, soft_wrap=True)
        for system in report.not_configured:
            console.print(f"· {NAMES.get(system, system):<{width}}  not configured / не настроено")
        verdict = (
            "all checks passed / все проверки пройдены" if report.ok else "some checks failed / есть ошибки"
        )
        if report.facts:
            kept = ", ".join(NAMES.get(s, s) for s in report.facts)
            console.print(
                f"what was read of {kept} is shown beside the mapping at /mappings "
                "/ прочитанное показано рядом с сопоставлениями на /mappings",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
        console.print(verdict)
    raise typer.Exit(0 if report.ok else 1)
