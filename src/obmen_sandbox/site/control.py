"""The control API under `/_sandbox`: place and edit orders, look at the catalog, reset, inject faults."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from obmen_sandbox.site.coupon import CouponError, spread
from obmen_sandbox.site.orders import STATUSES, Customer, Item, Order
from obmen_sandbox.site.state import FAULT_KINDS, Fault, SiteState

__all__ = ["control_routes"]


class BadRequest(ValueError):
    """The JSON body is not what the control API takes; the message says why."""


def _error(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


# Characters XML 1.0 cannot carry at all; everything else reaches 1C (as `&#N;` outside windows-1251).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _str(obj: dict[str, Any], key: str, required: bool = True) -> str:
    value = obj.get(key, None if required else "")
    if not isinstance(value, str) or (required and not value.strip()):
        raise BadRequest(f"{key!r} must be a non-empty string")
    if _NOT_XML.search(value):
        raise BadRequest(f"{key!r} holds characters XML cannot carry")
    return value.strip()


def _dec(value: Any, what: str, positive: bool = False) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise BadRequest(f"{what} must be a number")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise BadRequest(f"{what} must be a number") from None
    if not number.is_finite() or number < 0 or (positive and number == 0):
        raise BadRequest(f"{what} must be {'positive' if positive else 'non-negative'}")
    return number


def _dict(obj: Any, what: str) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise BadRequest(f"{what} must be an object")
    return obj


def _customer(body: dict[str, Any]) -> Customer:
    c = _dict(body.get("customer"), "customer")
    return Customer(
        _str(c, "name"), _str(c, "email"), _str(c, "phone"), _str(c, "company", False), _str(c, "inn", False)
    )


def _item(state: SiteState, raw: Any) -> Item:
    line = _dict(raw, "items[]")
    xml_id = _str(line, "offer")
    offer = state.catalog.offers.get(xml_id)
    if offer is None:
        raise BadRequest(f"unknown offer {xml_id!r}: the catalog exchange has not delivered it")
    quantity = _dec(line.get("quantity"), "quantity", positive=True)
    if "price" in line:
        price = _dec(line["price"], "price")
    else:
        retail = state.catalog.retail_price(offer)
        if retail is None:
            raise BadRequest(f"offer {xml_id!r} has no price; pass 'price'")
        price = retail
    discount = _dec(line.get("discount", 0), "discount")
    # VAT: a rate in percent (none by default) and whether the price includes it, else it is added on top.
    rate = _dec(line["vat_rate"], "vat_rate") if line.get("vat_rate") is not None else None
    vat_included = line.get("vat_included", True)
    if not isinstance(vat_included, bool):
        raise BadRequest("'vat_included' must be true or false")
    return Item(xml_id, offer.name, quantity, price, discount, vat_rate=rate, vat_included=vat_included)


def _order_json(order: Order) -> dict[str, Any]:
    c = order.customer
    return {
        "id": order.id,
        "number": order.number,
        "created": order.created.isoformat(),
        "customer": {"name": c.name, "email": c.email, "phone": c.phone, "company": c.company, "inn": c.inn},
        "items": [
            {
                "offer": i.offer,
                "name": i.name,
                "quantity": str(i.quantity),
                "price": str(i.price),
                "discount": str(i.discount),
                "vat_rate": None if i.vat_rate is None else str(i.vat_rate),
                "vat_included": i.vat_included,
            }
            for i in order.items
        ],
        "delivery": {"service": order.delivery_service, "price": str(order.delivery_price)},
        # `payment` is the order as a whole (paid in full); `payments` each payment on its own.
        "payment": {"system": order.payment_system, "paid": order.paid},
        "payments": [
            {
                "id": p.id,
                "system": p.system,
                "sum": str(order.amount(p)),
                "paid": p.paid,
                "paid_at": p.paid_at.isoformat() if p.paid_at else None,
            }
            for p in order.payments
        ],
        "total": str(order.total),
        "status": order.status,
        "status_name": STATUSES.get(order.status, order.status),
        "allow_delivery": order.allow_delivery,
        "shipped": order.shipped,
        "cancelled": order.cancelled,
        "properties": dict(order.properties),
        "comment": order.comment,
        "customer_comment": order.customer_comment,
        "external": order.external,
        "version": order.version,
        "updated_at": order.updated_at.isoformat() if order.updated_at else None,
        "updated_by": order.updated_by,
        "exported": order.exported_version is not None and order.exported_version >= order.version,
        "exported_version": order.exported_version,
        "onec": order.onec,
    }


async def _json(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise BadRequest("the body must be JSON") from None
    return _dict(body, "the body")


async def create_order(state: SiteState, request: Request) -> Response:
    """`POST /orders`: a customer checks out on the storefront."""
    body = await _json(request)
    items_raw = body.get("items")
    if not isinstance(items_raw, list) or not items_raw:
        raise BadRequest("'items' must be a non-empty list")
    customer = _customer(body)
    items = [_item(state, raw) for raw in items_raw]
    if body.get("discount") is not None:
        try:
            items = spread(items, _dec(body["discount"], "discount"))
        except CouponError as exc:
            raise BadRequest(str(exc)) from None
    delivery = _dict(body.get("delivery"), "delivery")
    splits, paid = _payments(body)
    note = _str(body, "comment", required=False)
    shipping = (_str(delivery, "service"), _dec(delivery.get("price", 0), "delivery.price"))
    _check_sums(splits, sum((i.total for i in items), Decimal(0)) + shipping[1])
    order = state.book.create(customer, items, shipping, splits)
    order.customer_comment = note
    if "properties" in body:
        state.book.patch(order, {"properties": _properties(body["properties"])})
    pay = {p.id: True for p, flag in zip(order.payments, paid, strict=True) if flag}
    if pay:
        state.book.patch(order, {"pay": pay})
    return JSONResponse({"id": order.id, "number": order.number}, status_code=201)


def _payments(body: dict[str, Any]) -> tuple[list[tuple[str, Decimal | None]], list[bool]]:
    """`payment` (one for the whole order) or `payments` (several: `system`, `sum`, `paid`; at most one
    without `sum`, which is the rest of the order) → (system, sum) splits and which are paid."""
    if "payments" in body and "payment" in body:
        raise BadRequest("give 'payment' or 'payments', not both")
    raw = body["payments"] if "payments" in body else [body.get("payment")]
    if not isinstance(raw, list) or not raw:
        raise BadRequest("'payments' must be a non-empty list")
    splits: list[tuple[str, Decimal | None]] = []
    paid: list[bool] = []
    for entry in raw:
        payment = _dict(entry, "payment")
        flag = payment.get("paid", False)
        if not isinstance(flag, bool):
            raise BadRequest("'payment.paid' must be a boolean")
        amount = _dec(payment["sum"], "payment.sum", positive=True) if "sum" in payment else None
        splits.append((_str(payment, "system"), amount))
        paid.append(flag)
    if sum(1 for _, amount in splits if amount is None) > 1:
        raise BadRequest("at most one payment may leave out 'sum' (it takes the rest of the order)")
    return splits, paid


def _check_sums(splits: list[tuple[str, Decimal | None]], total: Decimal) -> None:
    """Several payments must add up to the order's sum, and the open one must be left something."""
    if len(splits) < 2:
        return
    given = sum((amount for _, amount in splits if amount is not None), Decimal(0))
    open_one = any(amount is None for _, amount in splits)
    if given > total or (open_one and given == total) or (not open_one and given != total):
        raise BadRequest(f"the payments' sums ({given}) must add up to the order's total ({total})")


def _properties(raw: Any) -> dict[str, str]:
    given = _dict(raw, "properties")
    if not all(isinstance(v, str) for v in given.values()):
        raise BadRequest("'properties' maps property names to strings")
    return {str(k): str(v) for k, v in given.items()}


def _patch_changes(state: SiteState, body: dict[str, Any]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    known = {"status", "paid", "payments", "cancelled", "comment", "allow_delivery", "shipped", "properties"}
    known.add("items")
    unknown = set(body) - known
    if unknown:
        raise BadRequest(f"unknown fields: {sorted(unknown)}")
    if "status" in body:
        if body["status"] not in STATUSES:
            raise BadRequest(f"status must be one of {sorted(STATUSES)}")
        changes["status"] = body["status"]
    for key in ("paid", "cancelled", "allow_delivery", "shipped"):
        if key in body:
            if not isinstance(body[key], bool):
                raise BadRequest(f"{key!r} must be a boolean")
            changes[key] = body[key]
    if "payments" in body:
        changes["pay"] = _pay(body["payments"])
    if "comment" in body:
        changes["comment"] = _str(body, "comment", required=False)
    if "properties" in body:
        changes["properties"] = _properties(body["properties"])
    if "items" in body:
        # A manager adds, removes or recounts lines in the admin panel: the basket as it is left.
        if not isinstance(body["items"], list) or not body["items"]:
            raise BadRequest("'items' must be a non-empty list")
        changes["items"] = [_item(state, raw) for raw in body["items"]]
    return changes


def _pay(raw: Any) -> dict[int, bool]:
    """`"payments": [{"id": 12, "paid": true}]`: pay or unpay the payments named by their ids."""
    if not isinstance(raw, list) or not raw:
        raise BadRequest("'payments' must be a non-empty list of {'id', 'paid'}")
    out: dict[int, bool] = {}
    for entry in raw:
        payment = _dict(entry, "payments[]")
        ident, flag = payment.get("id"), payment.get("paid")
        if not isinstance(ident, int) or isinstance(ident, bool) or not isinstance(flag, bool):
            raise BadRequest("each of 'payments' is {'id': <payment id>, 'paid': <boolean>}")
        out[ident] = flag
    return out


def _order_or_404(state: SiteState, request: Request) -> Order:
    raw = request.path_params["order_id"]
    order = state.book.orders.get(int(raw)) if str(raw).isdigit() else None
    if order is None:
        raise LookupError(f"no order {raw}")
    return order


async def patch_order(state: SiteState, request: Request) -> Response:
    """`PATCH /orders/{id}`: a manager edits the order on the site."""
    order = _order_or_404(state, request)
    changes = _patch_changes(state, await _json(request))
    unknown = sorted(set(changes.get("pay") or {}) - {p.id for p in order.payments})
    if unknown:
        raise BadRequest(f"order {order.id} has no payments {unknown}")
    state.book.patch(order, changes)
    return JSONResponse(_order_json(order))


async def add_user(state: SiteState, request: Request) -> Response:
    """`POST /users`: a site user (name, email, phone) who places no order yet; answers `{"id"}`."""
    body = await _json(request)
    person = Customer(_str(body, "name"), _str(body, "email"), _str(body, "phone", False))
    return JSONResponse({"id": state.book.register(person)}, status_code=201)


async def get_order(state: SiteState, request: Request) -> Response:
    """`GET /orders/{id}`."""
    return JSONResponse(_order_json(_order_or_404(state, request)))


async def list_orders(state: SiteState, request: Request) -> Response:
    """`GET /orders`."""
    return JSONResponse([_order_json(o) for o in state.book.orders.values()])


async def products(state: SiteState, request: Request) -> Response:
    """`GET /products?xml_id=` (one product with its offers) or a page: `?offset=&limit=`."""
    catalog = state.catalog
    xml_id = request.query_params.get("xml_id")
    if xml_id is not None:
        product = catalog.products.get(xml_id)
        if product is None:
            raise LookupError(f"no product {xml_id}")
        return JSONResponse(catalog.product_json(product))
    offset = _int_param(request, "offset", 0)
    limit = min(_int_param(request, "limit", 50), 500)
    page = list(catalog.products.values())[offset : offset + limit]
    return JSONResponse(
        {
            "total": len(catalog.products),
            "offset": offset,
            "limit": limit,
            "items": [catalog.product_json(p) for p in page],
            "sections": len(catalog.sections),
            "offers": len(catalog.offers),
        }
    )


async def offer(state: SiteState, request: Request) -> Response:
    """`GET /offers/{xml_id}`."""
    found = state.catalog.offers.get(request.path_params["xml_id"])
    if found is None:
        raise LookupError(f"no offer {request.path_params['xml_id']}")
    return JSONResponse(state.catalog.offer_json(found))


def _int_param(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.isdigit():
        raise BadRequest(f"{name} must be a non-negative integer")
    return int(raw)


async def reset(state: SiteState, request: Request) -> Response:
    """`POST /reset`: an empty site."""
    state.reset()
    return JSONResponse({"reset": True})


async def add_fault(state: SiteState, request: Request) -> Response:
    """`POST /faults`: arm a fault, e.g. `{"kind": "status", "status": 503, "mode": "import", "times": 2}`."""
    body = await _json(request)
    kind = body.get("kind")
    if kind not in FAULT_KINDS:
        raise BadRequest(f"kind must be one of {sorted(FAULT_KINDS)}")
    fault = Fault(kind=kind, mode="import" if kind == "fail_import_step" else None)
    for key, typ in (
        ("type", str),
        ("mode", str),
        ("status", int),
        ("seconds", float),
        ("step", int),
        ("times", int),
    ):
        if key in body:
            value = body[key]
            if typ is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if not isinstance(value, typ) or isinstance(value, bool):
                raise BadRequest(f"{key!r} must be {typ.__name__}")
            setattr(fault, key, value)
    state.faults.append(fault)
    return JSONResponse([f.json() for f in state.faults], status_code=201)


async def list_faults(state: SiteState, request: Request) -> Response:
    """`GET /faults`."""
    return JSONResponse([f.json() for f in state.faults])


async def clear_faults(state: SiteState, request: Request) -> Response:
    """`DELETE /faults`."""
    state.faults.clear()
    return JSONResponse([])


async def log(state: SiteState, request: Request) -> Response:
    """`GET /log`: the protocol calls seen, oldest first."""
    return JSONResponse(state.log)


def control_routes(state: SiteState) -> list[Route]:
    """Routes to mount under `/_sandbox`."""

    def wrap(handler: Any) -> Any:
        async def endpoint(request: Request) -> Response:
            async with state.lock:
                try:
                    response: Response = await handler(state, request)
                except BadRequest as exc:
                    return _error(str(exc))
                except LookupError as exc:
                    return _error(str(exc), 404)
                return response

        return endpoint

    return [
        Route("/orders", wrap(create_order), methods=["POST"]),
        Route("/orders", wrap(list_orders), methods=["GET"]),
        Route("/orders/{order_id}", wrap(get_order), methods=["GET"]),
        Route("/orders/{order_id}", wrap(patch_order), methods=["PATCH"]),
        Route("/users", wrap(add_user), methods=["POST"]),
        Route("/products", wrap(products), methods=["GET"]),
        Route("/offers/{xml_id:path}", wrap(offer), methods=["GET"]),
        Route("/reset", wrap(reset), methods=["POST"]),
        Route("/faults", wrap(add_fault), methods=["POST"]),
        Route("/faults", wrap(list_faults), methods=["GET"]),
        Route("/faults", wrap(clear_faults), methods=["DELETE"]),
        Route("/log", wrap(log), methods=["GET"]),
    ]
