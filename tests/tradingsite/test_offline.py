"""Nothing the platform serves loads from another host: a desk may be offline."""

import re

import pytest
from django.contrib.staticfiles import finders

pytestmark = pytest.mark.django_db
PAGES = ["/api/docs/", "/dashboard/", "/admin/", "/admin/exchanges/exchange/"]


@pytest.mark.parametrize("path", PAGES)
def test_pages_load_only_from_this_host(client, operator, path):
    client.force_login(operator)
    response = client.get(path)
    assert response.status_code == 200
    html = response.content.decode()
    assert not re.findall(r"""(?:src|href)=["'](?:https?:)?//""", html), "a page refers to another host"
    for asset in re.findall(r"""(?:src|href)=["']/static/([^"'?]+)""", html):
        assert finders.find(asset), f"{asset} is not among our static files"


def test_swagger_ui_comes_from_the_sidecar(client, operator):
    client.force_login(operator)
    html = client.get("/api/docs/").content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
