"""Opening positions through the API: 201 with the position, 400 naming the field, permission required."""

from decimal import Decimal

import pytest

from positions.models import Position
from tests.conftest import ladder

pytestmark = pytest.mark.django_db


@pytest.fixture
def on_paper(monkeypatch, paper, books, venue):
    books.set_book(ladder("BTCUSDT", "60000.00", "60000.01", "1.00", sizes=("5", "5", "5", "5", "5")))
    for module in ("positions.opening", "positions.services", "positions.actions"):
        monkeypatch.setattr(f"{module}.get_venue", lambda exchange: venue)
    return paper.exchange


def body(exchange, **kw):
    return {
        "exchange": exchange.pk,
        "symbol": "BTCUSDT",
        "amount": "0.01",
        "stop_loss": "59000",
        "take_profits": [{"price": "61000", "fraction": "0.5"}, {"price": "62000", "fraction": "0.5"}],
    } | kw


def test_a_position_opened_by_api_is_monitored_with_its_ladder(api, on_paper):
    response = api.post("/api/positions/", body(on_paper), format="json")
    assert response.status_code == 201, response.json()
    data = response.json()
    assert (data["symbol"], data["phase"], data["entry_price"][:8]) == ("BTCUSDT", "MONITORING", "60000.01")
    assert [(tp["index"], tp["status"]) for tp in data["take_profits"]] == [(1, "PENDING"), (2, "PENDING")]
    event = Position.objects.get().events.get(kind="monitor_created")
    assert event.payload["requested_by"].startswith("api:")


def test_bad_input_is_a_400_naming_the_field(api, on_paper):
    response = api.post("/api/positions/", body(on_paper, take_profits=[{"price": "59000", "fraction": "0.5"}]),
                        format="json")  # fmt: skip
    assert response.status_code == 400
    assert "not above the entry" in response.json()["take_profits"][0]
    response = api.post("/api/positions/", body(on_paper, amount="-1"), format="json")
    assert response.status_code == 400
    assert "amount" in response.json()
    assert not Position.objects.exists()


def test_opening_needs_a_login(anon_api, on_paper):
    assert anon_api.post("/api/positions/", body(on_paper), format="json").status_code == 401
    assert Decimal(0) == Position.objects.count()


def test_opening_needs_the_add_position_permission(viewer, on_paper):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(viewer)
    assert client.post("/api/positions/", body(on_paper), format="json").status_code == 403
    assert not Position.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_position_reads_are_cached_until_a_critical_event(api, monkeypatch, paper, books, venue):
    from positions.actions import position_close_now

    books.set_book(ladder("BTCUSDT", "60000.00", "60000.01", "1.00", sizes=("5", "5", "5", "5", "5")))
    for module in ("positions.opening", "positions.services", "positions.actions"):
        monkeypatch.setattr(f"{module}.get_venue", lambda exchange: venue)
    created = api.post("/api/positions/", body(paper.exchange), format="json").json()
    first = api.get("/api/positions/").json()
    Position.objects.filter(pk=created["id"]).update(mark_price=Decimal("1"))  # a change no event announces
    assert api.get("/api/positions/").json() == first  # served from the cache (TTL 15 s)
    position_close_now(position_id=created["id"], requested_by="test")  # critical events drop the cache
    after = api.get("/api/positions/").json()
    assert after["results"][0]["phase"] == "CLOSED"
    stats = api.get("/api/cache-stats/").json()["api_cache"]["positions"]
    assert (stats["ttl_s"], stats["hits"]) == (15, 1)
    assert stats["misses"] >= 2
    assert stats["invalidations"] >= 1


def test_an_operator_opens_a_position_in_admin(client, operator, on_paper):
    client.force_login(operator)
    url = "/admin/positions/position/open/"
    assert client.get(url).status_code == 200
    bad = client.post(url, {"exchange": on_paper.pk, "symbol": "BTCUSDT", "amount": "0.01", "entry_type": "market",
                            "take_profits": "59000:0.5", "stop_loss": "59500"})  # fmt: skip
    assert bad.status_code == 200
    assert "not above the entry" in bad.content.decode()
    good = client.post(url, {"exchange": on_paper.pk, "symbol": "BTCUSDT", "amount": "0.01", "entry_type": "market",
                             "take_profits": "61000:0.5, 62000:0.5", "stop_loss": "59000"})  # fmt: skip
    position = Position.objects.get()
    assert good.status_code == 302
    assert good["Location"].endswith(f"/admin/positions/position/{position.pk}/change/")
    assert position.events.get(kind="monitor_created").payload["requested_by"] == "admin:operator-test"


def test_opening_in_admin_needs_the_permission(client, viewer, on_paper):
    viewer.is_staff = True
    viewer.save()
    client.force_login(viewer)
    assert client.get("/admin/positions/position/open/").status_code == 403


def test_the_position_list_in_admin_links_to_the_open_form(client, operator, on_paper):
    client.force_login(operator)
    assert "/admin/positions/position/open/" in client.get("/admin/positions/position/").content.decode()
