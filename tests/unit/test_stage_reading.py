"""Unmapped means unknown (docs/architecture.md §2.12): what a deal's stage tells of the order's status."""

from __future__ import annotations

from obmen.config.mapping import PipelineMap
from obmen.connectors.bitrix24.crm.fields import deal_from_order, order_from_deal, stage_silence
from obmen.engine.merge import Side, merge
from obmen.engine.policy import Policy
from obmen_sandbox.bitrix24.stages import DEAL_STAGES


def test_the_defaults_read_every_stage_of_a_fresh_portal() -> None:
    pipeline = PipelineMap()
    readings = {stage: pipeline.reading(stage) for stage, _, _ in DEAL_STAGES}
    assert readings == {
        "NEW": "N",
        "PREPARATION": "P",
        "PREPAYMENT_INVOICE": "A",
        "EXECUTING": "D",
        "FINAL_INVOICE": None,  # declared: tells nothing
        "WON": "F",
        # The failure stages tell that the order is cancelled, not a status (a stock site has none).
        "LOSE": None,
        "APOLOGY": None,
    }
    assert set(readings) <= {*pipeline.stage_to_status, *pipeline.status_to_stage.values()}
    assert {stage for stage, _, _ in DEAL_STAGES if pipeline.cancels(stage)} == {"LOSE", "APOLOGY"}


def test_a_cancelled_order_moves_its_deal_to_the_lost_stage_and_a_restored_one_back() -> None:
    pipeline = PipelineMap()
    assert deal_from_order({"cancelled": True}, pipeline, None) == {"stageId": "LOSE"}
    assert deal_from_order({"cancelled": True, "status": "P"}, pipeline, None)["stageId"] == "LOSE"
    assert deal_from_order({"cancelled": True}, pipeline, "a" * 32)["stageId"] == "LOSE"
    # Restored: the status's stage again, or the fallback one when the status is unmapped.
    assert deal_from_order({"cancelled": False, "status": "P"}, pipeline, None) == {"stageId": "PREPARATION"}
    assert deal_from_order({"cancelled": False, "status": "S"}, pipeline, None) == {"stageId": "NEW"}
    # Without its status a restore cannot say where the deal goes: the engine sends it along (plan.py).
    assert deal_from_order({"cancelled": False}, pipeline, None) == {}
    # A pipeline that maps no stage to `C` keeps a cancelled order's deal where it is.
    plain = PipelineMap(status_to_stage={"N": "NEW", "F": "WON"})
    assert deal_from_order({"cancelled": True, "status": "N"}, plain, None) == {"stageId": "NEW"}
    lost = {"id": 7, "stageId": "LOSE", "categoryId": 0, "opportunity": 10}
    assert "status" not in order_from_deal(lost, [], pipeline)


def test_an_unmapped_stage_tells_no_status_and_the_fallback_serves_creates_only() -> None:
    pipeline = PipelineMap(category_id=2, status_to_stage={"N": "NEW", "F": "WON"})
    assert pipeline.reading("C2:WON") == "F"
    assert pipeline.reading("C2:CUSTOM") is None
    assert pipeline.status("C2:CUSTOM") == "N"
    deal = {"id": 7, "stageId": "C2:CUSTOM", "categoryId": 2, "opportunity": 10}
    assert "status" not in order_from_deal(deal, [], pipeline)
    assert stage_silence(deal, pipeline) == ({"status": "stage C2:CUSTOM"}, {"status": "N"})
    won = {**deal, "stageId": "C2:WON"}
    assert order_from_deal(won, [], pipeline)["status"] == "F"
    assert stage_silence(won, pipeline) == ({}, {})


def test_an_unmapped_status_moves_no_deal_and_the_fallback_stage_serves_creates_only() -> None:
    pipeline = PipelineMap(category_id=2, status_to_stage={"N": "NEW", "F": "WON"}, fallback_stage="NEW")
    assert deal_from_order({"status": "S", "comment": "x"}, pipeline, None) == {"comments": "x"}
    assert deal_from_order({"status": "F"}, pipeline, None) == {"stageId": "C2:WON"}
    made = deal_from_order({"status": "S"}, pipeline, "a" * 32)
    assert made["stageId"] == "C2:NEW"
    assert deal_from_order({"status": "F"}, pipeline, "a" * 32)["stageId"] == "C2:WON"


def test_a_deal_that_could_not_take_a_status_does_not_vote_its_old_one_back() -> None:
    # The site moved the order to a status no stage maps: the deal keeps PREPARATION, which reads P.
    policy = Policy.build()
    base = {"status": "P"}
    sides = [Side("site", {"status": "S"}, 20.0), Side("bitrix24", {"status": "P"}, 10.0)]
    first = merge("order", base, sides, policy)
    assert first.target == {"status": "S"}
    assert first.writes == {"bitrix24": {"status": "S"}}
    # Next round the deal still reads P: held, not a change of its own.
    again = [Side("site", {"status": "S"}, 20.0), Side("bitrix24", {"status": "P"}, 30.0)]
    second = merge("order", first.target, again, policy, first.shown, None, first.held)
    assert second.target == {"status": "S"}
    # A manager who then moves the deal is heard.
    moved = [Side("site", {"status": "S"}, 20.0), Side("bitrix24", {"status": "F"}, 40.0)]
    third = merge("order", second.target, moved, policy, second.shown, None, second.held)
    assert third.target == {"status": "F"}
    assert third.writes == {"site": {"status": "F"}}


def test_the_manager_1c_names_is_found_whatever_its_spacing_and_case() -> None:
    """1C's responsible name against `[mapping] managers`, normalised as names are (model/normalize.py)."""
    managers = {7: "Иванова  Анна", 8: "Петров Пётр"}
    for name in ("иванова анна", " Иванова\u00a0Анна\t", "ИВАНОВА\nАННА"):
        assert deal_from_order({"manager": name}, PipelineMap(), None, managers=managers) == {
            "assignedById": 7
        }, name
    assert deal_from_order({"manager": "Сидоров"}, PipelineMap(), None, managers=managers) == {}
